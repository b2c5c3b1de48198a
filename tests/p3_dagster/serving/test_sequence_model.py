"""``serving/query_sequence_model`` on an empty query log: an empty model, stored, and no MLflow."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from p3_dagster.defs.serving.sequence_model import build_sequence_model_asset
from p3_dagster.lib.cache_resource import CacheResource
from p3_dagster.lib.mlflow_resource import MlflowResource
from p3_dagster.lib.resources import PublishedSnapshotResource
from p3_query.cache.warming import load_predictor
from tests.fixtures.snapshots import PublishedSnapshot

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_manifest")]


def test_an_empty_query_log_stores_an_empty_model_and_skips_mlflow(
    snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    cache = CacheResource(redis_url=None, cache_dir=str(tmp_path / "cache"), warm_budget=5)
    tracking_db = tmp_path / "mlflow" / "mlflow.db"
    result = dg.materialize(
        [build_sequence_model_asset()],
        resources={
            "cache": cache,
            "snapshot": PublishedSnapshotResource(path=str(snapshot.path)),
            "mlflow": MlflowResource(
                tracking_uri=f"sqlite:///{tracking_db}",
                artifacts_dir=str(tmp_path / "mlflow" / "artifacts"),
            ),
        },
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("serving__query_sequence_model")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert meta["mlflow"] == "skipped: empty query log"
    assert meta["trained_on_events"] == 0 and meta["cache_unavailable"] is False
    assert not tracking_db.exists()  # no MLflow store was even created
    with cache.open() as store:
        stored = load_predictor(store)
    # Stored, so warming reads "nothing learned yet" rather than an older model.
    assert stored is not None and stored.trained_on == 0
