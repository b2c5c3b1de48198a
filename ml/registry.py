"""MLflow tracking and registry: log a training run, register `p3-race-outcome`, guard the champion alias."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightgbm
import mlflow
import mlflow.pyfunc
import pandas as pd
import sklearn
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from . import plots
from .evaluate import Evaluation, evaluate
from .predict import CHAMPION_ALIAS, MODEL_NAME, RaceOutcomePyfunc, model_input
from .train import RaceOutcomeModel, TrainConfig, fit

# The champion is compared on this metric, averaged over the held-out seasons both runs evaluated.
PRIMARY_METRIC = "spearman"
# Tag on runs and model versions: what the model was trained on (features, config, held-out seasons).
FINGERPRINT_TAG = "training_fingerprint"


@dataclass(frozen=True)
class TrainingDecision:
    """Whether to train, why, and (when not) the registered version that is already up to date."""

    train: bool
    reason: str
    fingerprint: str
    version: Any = None


def training_fingerprint(
    features: pd.DataFrame, config: TrainConfig, held_out: Sequence[int]
) -> str:
    """A 16-hex digest of the feature frame's content, the training config and held-out seasons.

    Row order and column order do not matter; any changed value, row or setting does.
    """
    frame = features.reindex(sorted(features.columns), axis=1)
    rows = pd.util.hash_pandas_object(frame, index=False).sort_values().to_numpy()
    digest = hashlib.sha256(rows.tobytes())
    settings = {
        "columns": list(frame.columns),
        "config": asdict(config),
        "held_out": sorted(held_out),
    }
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def training_decision(
    client: MlflowClient, fingerprint: str, *, model_name: str = MODEL_NAME, force: bool = False
) -> TrainingDecision:
    """Train when forced, when no version (or no champion) is registered, or when no version was
    trained on data with this fingerprint; otherwise the newest such version is up to date."""
    if force:
        return TrainingDecision(True, "training forced by the run config", fingerprint)
    try:
        versions = list(client.search_model_versions(f"name='{model_name}'"))
    except MlflowException:
        versions = []
    if not versions:
        return TrainingDecision(True, f"no model registered as {model_name} yet", fingerprint)
    if _champion_version(client, model_name) is None:
        return TrainingDecision(True, f"{model_name} has no champion version", fingerprint)
    same = [v for v in versions if v.tags.get(FINGERPRINT_TAG) == fingerprint]
    if same:
        version = max(same, key=lambda v: int(v.version))
        return TrainingDecision(
            False,
            f"model up to date (data fingerprint {fingerprint}): version {version.version} was "
            "trained on the same features and settings",
            fingerprint,
            version,
        )
    latest = max(versions, key=lambda v: int(v.version))
    return TrainingDecision(
        True,
        f"training data changed (data fingerprint {fingerprint}; latest version "
        f"{latest.version} was trained on {latest.tags.get(FINGERPRINT_TAG, 'unrecorded data')})",
        fingerprint,
    )


@dataclass(frozen=True)
class Comparison:
    """The new version against the current champion on the held-out seasons they share."""

    champion_version: str | None
    seasons: list[int]
    new_score: float
    champion_score: float | None
    promote: bool
    reason: str


@dataclass(frozen=True)
class TrainingOutcome:
    """What a training run produced: run, registered version, evaluation and the alias decision."""

    run_id: str
    experiment_id: str
    model_version: str
    model_uri: str
    evaluation: Evaluation
    comparison: Comparison
    figures: dict[str, Any]

    @property
    def became_champion(self) -> bool:
        """Whether the ``champion`` alias now points at this run's version."""
        return self.comparison.promote


def tracking_client(tracking_uri: str) -> MlflowClient:
    """A client of the tracking store at ``tracking_uri`` (a local SQLite store's folder is created)."""
    _ensure_sqlite_folder(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri)


def _ensure_sqlite_folder(tracking_uri: str) -> None:
    if tracking_uri.startswith("sqlite:///"):
        # SQLite creates the database file but not its folder.
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


@contextmanager
def open_run(
    tracking_uri: str,
    experiment: str,
    *,
    artifacts_dir: Path | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """An active MLflow run in ``experiment``, created on first use.

    With a local store (sqlite/file URI) the experiment's artifacts go to ``artifacts_dir``;
    a tracking server decides its own artifact location.
    """
    _ensure_sqlite_folder(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = ensure_experiment(experiment, artifacts_dir)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        yield run


def ensure_experiment(name: str, artifacts_dir: Path | None = None) -> str:
    """The id of experiment ``name``, creating it (with ``artifacts_dir`` as its root) if needed."""
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if artifacts_dir is not None:
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        location = artifacts_dir.resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def train_evaluate_register(
    features: pd.DataFrame,
    config: TrainConfig,
    held_out: Sequence[int],
    *,
    model_name: str = MODEL_NAME,
    fingerprint: str | None = None,
) -> TrainingOutcome:
    """Inside the active run: evaluate walk-forward, fit on every season, log, register, compare.

    The ``champion`` alias moves to the new version only when it beats the current champion on
    the held-out seasons both were evaluated on (PRIMARY_METRIC); the comparison is logged.
    ``fingerprint`` (training_fingerprint) is tagged on the run and the version, so the next
    training_decision can tell the model is up to date. Training errors propagate and fail the run.
    """
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("train_evaluate_register needs an active MLflow run (open_run)")
    evaluation = evaluate(features, held_out, config)
    model = fit(features, config)
    figures = log_run(model, evaluation, config, features)
    version = register(model, features, model_name=model_name)
    client = MlflowClient()
    comparison = compare_to_champion(client, model_name, evaluation)
    log_comparison(comparison)
    if comparison.promote:
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
    client.set_model_version_tag(model_name, version, "became_champion", str(comparison.promote))
    if fingerprint:
        mlflow.set_tag(FINGERPRINT_TAG, fingerprint)
        client.set_model_version_tag(model_name, version, FINGERPRINT_TAG, fingerprint)
    return TrainingOutcome(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        model_version=version,
        model_uri=f"models:/{model_name}/{version}",
        evaluation=evaluation,
        comparison=comparison,
        figures=figures,
    )


def log_run(
    model: RaceOutcomeModel,
    evaluation: Evaluation,
    config: TrainConfig,
    features: pd.DataFrame,
) -> dict[str, Any]:
    """Log params, per-season metrics of the model and both baselines, tables and plots.

    Returns the figures so callers can show them elsewhere (e.g. Dagster metadata).
    """
    train_rows = features[features["season"] >= config.min_season]
    mlflow.log_params(
        config.params()
        | {
            "held_out_seasons": ",".join(str(s) for s in evaluation.seasons),
            "train_rows": len(train_rows),
            "train_seasons": f"{train_rows['season'].min()}-{train_rows['season'].max()}",
        }
    )
    mlflow.log_metrics(evaluation.mlflow_metrics())
    # Per-season series with the season as the step, for MLflow's metric charts.
    for row in evaluation.summary[evaluation.summary["season"] != "overall"].itertuples():
        for metric in ("spearman", "winner_top1", "podium_brier"):
            mlflow.log_metric(
                f"{row.predictor}/{metric}", getattr(row, metric), step=int(row.season)
            )
    mlflow.log_text(evaluation.to_markdown(), "evaluation/summary.md")
    mlflow.log_table(evaluation.summary, "evaluation/summary.json")
    importance = model.feature_importance()
    mlflow.log_table(importance.reset_index(names="feature"), "model/feature_importance.json")
    figures = {
        "feature_importance": plots.feature_importance_figure(importance),
        "calibration": plots.calibration_figure(evaluation.predictions),
        "spearman_by_season": plots.season_metric_figure(evaluation.summary, "spearman"),
    }
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"plots/{name}.png")
    return figures


def register(model: RaceOutcomeModel, features: pd.DataFrame, *, model_name: str) -> str:
    """Log the model (signature + input example) to the active run and register a new version."""
    example = model_input(features.tail(5), model.features)
    signature = infer_signature(example, model.predict(example))
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=RaceOutcomePyfunc(model),
        signature=signature,
        input_example=example,
        registered_model_name=model_name,
        # Explicit requirements: inferring them would load the model in a subprocess (slow).
        pip_requirements=[
            f"mlflow=={mlflow.__version__}",
            f"lightgbm=={lightgbm.__version__}",
            f"scikit-learn=={sklearn.__version__}",
            f"pandas=={pd.__version__}",
        ],
    )
    if info.registered_model_version is None:
        raise RuntimeError(f"model was logged but not registered as {model_name}")
    return str(info.registered_model_version)


def compare_to_champion(
    client: MlflowClient, model_name: str, evaluation: Evaluation
) -> Comparison:
    """Compare ``evaluation`` to the champion's logged evaluation on their common held-out seasons."""
    new_by_season = {s: evaluation.metric("model", PRIMARY_METRIC, s) for s in evaluation.seasons}
    champion = _champion_version(client, model_name)
    if champion is None:
        return Comparison(
            None, evaluation.seasons, _mean(new_by_season.values()), None, True, "no champion yet"
        )
    logged = client.get_run(champion.run_id).data.metrics
    champion_by_season = {
        s: logged[f"model/{s}/{PRIMARY_METRIC}"]
        for s in new_by_season
        if f"model/{s}/{PRIMARY_METRIC}" in logged
    }
    seasons = sorted(champion_by_season)
    if not seasons:
        return Comparison(
            str(champion.version),
            [],
            _mean(new_by_season.values()),
            None,
            False,
            "no held-out season in common with the champion; alias kept",
        )
    new_score = _mean(new_by_season[s] for s in seasons)
    champion_score = _mean(champion_by_season.values())
    promote = new_score > champion_score
    verdict = "beats" if promote else "does not beat"
    reason = (
        f"{PRIMARY_METRIC} {new_score:.4f} {verdict} champion v{champion.version} "
        f"{champion_score:.4f} on seasons {seasons}"
    )
    return Comparison(str(champion.version), seasons, new_score, champion_score, promote, reason)


def _champion_version(client: MlflowClient, model_name: str) -> Any:
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        # The registered model exists (we just registered a version) but has no such alias yet.
        return None


def _mean(values: Any) -> float:
    items = list(values)
    return float(sum(items) / len(items))


def log_comparison(comparison: Comparison) -> None:
    """Record the champion decision on the active run: a JSON artifact, metrics and a tag."""
    mlflow.log_dict(asdict(comparison), "champion_comparison.json")
    mlflow.log_metric(f"comparison/new/{PRIMARY_METRIC}", comparison.new_score)
    if comparison.champion_score is not None:
        mlflow.log_metric(f"comparison/champion/{PRIMARY_METRIC}", comparison.champion_score)
    mlflow.set_tags(
        {"became_champion": str(comparison.promote), "champion_decision": comparison.reason}
    )


def comparison_json(comparison: Comparison) -> str:
    """The comparison as indented JSON (for logs and metadata)."""
    return json.dumps(asdict(comparison), indent=2)
