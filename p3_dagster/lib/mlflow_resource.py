"""MLflow resource: the tracking URI and experiment that training runs are logged to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from p3_common.settings import Settings

if TYPE_CHECKING:
    import mlflow

DEFAULT_EXPERIMENT = "p3-race-outcome"
# `make mlflow` serves the local store here.
LOCAL_UI_URL = "http://127.0.0.1:5000"


class MlflowResource(dg.ConfigurableResource):
    """Where training runs and the model registry live (MLFLOW_TRACKING_URI)."""

    tracking_uri: str = Field(
        description="MLflow tracking URI: sqlite:///... locally, http(s):// in prod."
    )
    experiment: str = Field(
        default=DEFAULT_EXPERIMENT, description="Experiment of the training runs."
    )
    artifacts_dir: str | None = Field(
        default=None,
        description="Artifact root of a new experiment on a local store; a server chooses its own.",
    )
    ui_url: str = Field(
        default=LOCAL_UI_URL,
        description="Base URL of the MLflow UI for run links when the tracking URI is not a server.",
    )

    @contextmanager
    def start_run(
        self,
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
        *,
        experiment: str | None = None,
    ) -> Iterator[mlflow.ActiveRun]:
        """An active run in ``experiment`` (default: the resource's); ended (FAILED on an
        exception) when the block exits."""
        # Imported here so that loading the code location does not import mlflow (~1.5 s).
        from ml.registry import open_run

        local = not self.tracking_uri.startswith(("http://", "https://"))
        artifacts = Path(self.artifacts_dir) if local and self.artifacts_dir else None
        with open_run(
            self.tracking_uri,
            experiment or self.experiment,
            artifacts_dir=artifacts,
            run_name=run_name,
            tags=tags,
        ) as run:
            yield run

    def run_url(self, experiment_id: str, run_id: str) -> str:
        """Link to the run in the MLflow UI."""
        return f"{self._ui()}/#/experiments/{experiment_id}/runs/{run_id}"

    def model_url(self, name: str, version: str) -> str:
        """Link to a registered model version in the MLflow UI."""
        return f"{self._ui()}/#/models/{name}/versions/{version}"

    def _ui(self) -> str:
        if self.tracking_uri.startswith(("http://", "https://")):
            return self.tracking_uri.rstrip("/")
        return self.ui_url.rstrip("/")


def build_mlflow_resource(settings: Settings) -> MlflowResource:
    """The MLflow resource for ``settings`` (local SQLite store under P3_HOME unless overridden)."""
    assert settings.mlflow_tracking_uri is not None
    return MlflowResource(
        tracking_uri=settings.mlflow_tracking_uri,
        artifacts_dir=str(settings.mlflow_artifacts_dir),
    )
