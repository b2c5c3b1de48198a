"""``serving/query_sequence_model``: learn analysts' query sequences from the log, tracked in MLflow."""

# No `from __future__ import annotations`: Dagster reads config, context and resource hints at runtime.

import functools
import time
from pathlib import Path

import dagster as dg
from pydantic import Field

from p3_query.cache import CacheUnavailable, QueryCache
from p3_query.cache.calendar import RaceCalendar
from p3_query.cache.predict import QueryPredictor, train_sequence_model
from p3_query.cache.warming import save_predictor

from ...lib.cache_resource import CacheResource
from ...lib.mlflow_resource import MlflowResource
from ...lib.resources import PublishedSnapshotResource
from .assets import SNAPSHOT_KEY

SEQUENCE_MODEL_KEY = dg.AssetKey(["serving", "query_sequence_model"])
_DAY_S = 86_400.0


class SequenceModelConfig(dg.Config):
    """Run configuration of ``serving/query_sequence_model``."""

    log_window_days: float = Field(
        default=28.0, gt=0, description="Train on the query log of this many past days."
    )
    session_gap_minutes: float = Field(
        default=30.0, gt=0, description="A pause longer than this starts a new analyst session."
    )
    holdout_fraction: float = Field(
        default=0.2, gt=0, lt=1, description="Newest share of the log held out for evaluation."
    )
    top_k: int = Field(default=3, ge=1, le=20, description="k of the next-query top-k accuracy.")


@functools.cache
def build_sequence_model_asset() -> dg.AssetsDefinition:
    """``serving/query_sequence_model``, downstream of the published snapshot."""

    @dg.asset(
        key=SEQUENCE_MODEL_KEY,
        deps=[SNAPSHOT_KEY],
        group_name="serving",
        kinds={"mlflow", "python"},
        tags={"layer": "serving"},
    )
    def query_sequence_model(
        context: dg.AssetExecutionContext,
        config: SequenceModelConfig,
        cache: CacheResource,
        snapshot: PublishedSnapshotResource,
        mlflow: MlflowResource,
    ) -> dg.MaterializeResult:
        """The query-sequence model that drives cache warming and pre-fetching.

        Learned from the cache's query log (spec hash, template, time, session): which query tends
        to follow which (exact and per template) and which are popular in each phase of the race
        calendar (from the snapshot's race dates). Evaluated on the newest part of the log against
        plain popularity (which also picks how much warming follows the calendar phase), logged
        to MLflow (experiment `p3-query-cache`, the model document as an artifact), then stored
        next to the cache, where `serving/query_cache` and the query engine's pre-fetcher load it.
        Cheap (counting), so it is re-trained on every publish. The cache is optional: if its
        backend is unreachable the step warns and succeeds (metadata ``cache_unavailable``); the
        model is not retrained (no log to read) or not stored (trained, tracked, not saved).
        An empty query log (a fresh install, a pipeline nobody queried yet) trains an empty model
        that is stored but not tracked: MLflow is skipped (metadata ``mlflow: skipped``), which
        saves its import and store set-up (~10 s) on every publish until analysts query.
        """
        from p3_query.cache.tracking import EXPERIMENT, log_sequence_model

        calendar = RaceCalendar.from_snapshot(Path(snapshot.path))
        gap_s = config.session_gap_minutes * 60
        with cache.open() as store:
            try:
                events = store.query_log(since=time.time() - config.log_window_days * _DAY_S)
            except CacheUnavailable as exc:
                context.log.warning(
                    f"{cache.backend} cache unavailable ({exc}); the query-sequence model is not "
                    "retrained this run (the cache is optional: queries answer from the snapshot)"
                )
                return dg.MaterializeResult(
                    metadata={"backend": cache.backend, "cache_unavailable": True}
                )
            model, evaluation = train_sequence_model(
                events,
                calendar,
                budget=cache.warm_budget,
                holdout_fraction=config.holdout_fraction,
                k=config.top_k,
                session_gap_s=gap_s,
            )
            if not events:
                return untracked_empty_model(context, store, model, cache.backend, config)
            tags = {
                "dagster/run_id": context.run.run_id,
                "dagster/asset": SEQUENCE_MODEL_KEY.to_user_string(),
            }
            with mlflow.start_run(
                run_name=f"dagster-{context.run.run_id[:8]}", tags=tags, experiment=EXPERIMENT
            ) as run:
                log_sequence_model(
                    model,
                    evaluation,
                    {
                        "log_window_days": config.log_window_days,
                        "holdout_fraction": config.holdout_fraction,
                        "top_k": config.top_k,
                        "warm_budget": cache.warm_budget,
                        "backend": cache.backend,
                    },
                )
            model.mlflow_run_id = run.info.run_id
            try:
                save_predictor(store, model)
                unavailable = False
            except CacheUnavailable as exc:
                store.report_unavailable(exc)
                context.log.warning(
                    f"{cache.backend} cache unavailable ({exc}); the model is tracked in MLflow "
                    f"run {run.info.run_id} but not stored next to the cache this run"
                )
                unavailable = True
        if evaluation is None:
            context.log.warning(
                f"query log too short to evaluate ({len(events)} events in "
                f"{config.log_window_days:g} days); the model is stored but not scored"
            )
        summary = model.summary()
        return dg.MaterializeResult(
            metadata={
                "mlflow_run_id": run.info.run_id,
                "mlflow_run": dg.MetadataValue.url(
                    mlflow.run_url(run.info.experiment_id, run.info.run_id)
                ),
                "backend": cache.backend,
                "cache_unavailable": unavailable,
                **{k: v for k, v in summary.items() if isinstance(v, int)},
                "phases": dg.MetadataValue.json(summary["phases"]),
                "phase_weight": dg.MetadataValue.float(model.phase_weight),
                "evaluation": dg.MetadataValue.json(evaluation.metrics() if evaluation else {}),
                **(
                    {"coverage_lift": dg.MetadataValue.float(evaluation.coverage_lift)}
                    if evaluation
                    else {}
                ),
                "dagster/row_count": summary["query_transitions"],
            }
        )

    return query_sequence_model


def untracked_empty_model(
    context: dg.AssetExecutionContext,
    store: QueryCache,
    model: QueryPredictor,
    backend: str,
    config: SequenceModelConfig,
) -> dg.MaterializeResult:
    """Store the model of an empty query log (warming then falls back to the hottest queries, of
    which there are none yet) without an MLflow run: there is nothing to evaluate or compare."""
    try:
        save_predictor(store, model)
        unavailable = False
    except CacheUnavailable as exc:
        store.report_unavailable(exc)
        unavailable = True
    context.log.info(
        f"query log empty in the last {config.log_window_days:g} days: an empty model is stored "
        "and MLflow tracking is skipped"
    )
    return dg.MaterializeResult(
        metadata={
            "mlflow": dg.MetadataValue.text("skipped: empty query log"),
            "backend": backend,
            "cache_unavailable": unavailable,
            **{k: v for k, v in model.summary().items() if isinstance(v, int)},
            "dagster/row_count": 0,
        }
    )
