"""ML assets: thin wrappers over `ml/` that read the marts, log to MLflow and write the `ml` schema."""

# No `from __future__ import annotations`: Dagster reads config, context and resource hints at runtime.

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd
from pydantic import Field

from ml.anomalies import lap_time_anomalies, load_laps, load_pit_stops, pit_stop_anomalies
from ml.features import build_features, load_inputs
from ml.tables import replace_table
from ml.train import TrainConfig as ModelConfig

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from ml.registry import TrainingDecision, TrainingOutcome

# ml.registry, ml.predict, ml.patterns and ml.plots are imported inside the assets: they pull in
# mlflow, scikit-learn, LightGBM and matplotlib, which loading the code location does not need.

from ...lib.mlflow_resource import MlflowResource
from ...lib.resources import WarehouseResource
from ..automation.policies import eager_after_checks

MODEL_KEY = dg.AssetKey(["ml", "race_outcome_model"])
PREDICTIONS_KEY = dg.AssetKey(["ml", "race_predictions"])
LAP_ANOMALIES_KEY = dg.AssetKey(["ml", "lap_time_anomalies"])
PIT_ANOMALIES_KEY = dg.AssetKey(["ml", "pit_stop_anomalies"])
PROFILES_KEY = dg.AssetKey(["ml", "driver_race_profiles"])

# The marts each asset reads (by table name; build_defs resolves them to the dbt asset keys).
MARTS_READ = {
    MODEL_KEY: ("fct_race_results", "fct_qualifying", "dim_races"),
    PREDICTIONS_KEY: (
        "fct_race_results",
        "fct_qualifying",
        "dim_races",
        "dim_drivers",
        "dim_constructors",
    ),
    LAP_ANOMALIES_KEY: ("fct_lap_times",),
    PIT_ANOMALIES_KEY: ("fct_pit_stops",),
    PROFILES_KEY: ("fct_race_results", "dim_drivers"),
}
TOP_ROWS = 10
_DEFAULTS = ModelConfig()


class TrainConfig(dg.Config):
    """Run configuration of ``ml/race_outcome_model`` (defaults chosen on 2018-2022 validation)."""

    held_out_seasons: list[int] = Field(
        default_factory=list,
        description="Seasons evaluated walk-forward; empty = the two latest seasons in the marts.",
    )
    min_season: int = Field(default=_DEFAULTS.min_season, description="First training season.")
    objective: str = Field(default=_DEFAULTS.objective, description="regression or lambdarank.")
    n_estimators: int = _DEFAULTS.n_estimators
    learning_rate: float = _DEFAULTS.learning_rate
    num_leaves: int = _DEFAULTS.num_leaves
    min_child_samples: int = _DEFAULTS.min_child_samples
    force: bool = Field(
        default=False,
        description="Train and register a new version even when the model is up to date.",
    )

    def training_config(self) -> ModelConfig:
        """The ml.train configuration these settings describe."""
        if self.objective not in ("regression", "lambdarank"):
            raise ValueError(f"objective must be regression or lambdarank, not {self.objective!r}")
        return ModelConfig(
            min_season=self.min_season,
            objective=self.objective,  # type: ignore[arg-type]
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
        )


class ProfilesConfig(dg.Config):
    """Run configuration of ``ml/driver_race_profiles``."""

    min_season: int = Field(default=2000, description="First season profiled.")
    clusters: int = Field(default=0, description="Number of clusters; 0 = chosen by silhouette.")


def default_held_out(features: pd.DataFrame, count: int = 2) -> list[int]:
    """The ``count`` latest seasons with races, which must leave at least one season to train on."""
    seasons = sorted(int(s) for s in features["season"].unique())
    if len(seasons) <= count:
        raise ValueError(f"need more than {count} seasons of races to evaluate, have {seasons}")
    return seasons[-count:]


def ml_asset(
    key: dg.AssetKey,
    deps: Sequence[dg.AssetKey],
    *,
    kinds: set[str],
    follows_new_data: bool = True,
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """The ``@dg.asset`` every ML asset shares: group and layer ``ml``, the DuckDB write pool, and
    (unless ``follows_new_data`` is off, as for the scheduled model) eager automation once the
    marts it reads have passed their checks."""
    return dg.asset(
        key=key,
        deps=list(deps),
        group_name="ml",
        kinds=kinds,
        pool="duckdb_write",
        automation_condition=eager_after_checks() if follows_new_data else None,
        tags={"layer": "ml"},
    )


def anomaly_metadata(
    found: pd.DataFrame, checked: dict[str, int], top: pd.DataFrame, top_label: str
) -> dict[str, object]:
    """What an anomaly asset reports: rows flagged, rows checked, slow and fast counts, the top rows."""
    return {
        "dagster/row_count": len(found),
        **checked,
        "slow": int((found["direction"] == "slow").sum()),
        "fast": int((found["direction"] == "fast").sum()),
        top_label: dg.MetadataValue.md(top.head(TOP_ROWS).to_markdown(index=False, floatfmt=".1f")),
    }


def build_assets(marts: Mapping[dg.AssetKey, Sequence[dg.AssetKey]]) -> list[dg.AssetsDefinition]:
    """The five ML assets, each depending on the mart keys given for it in ``marts``."""
    return [
        _model_asset(marts[MODEL_KEY]),
        _predictions_asset(marts[PREDICTIONS_KEY]),
        _lap_anomalies_asset(marts[LAP_ANOMALIES_KEY]),
        _pit_anomalies_asset(marts[PIT_ANOMALIES_KEY]),
        _profiles_asset(marts[PROFILES_KEY]),
    ]


def _model_asset(deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @ml_asset(MODEL_KEY, deps, kinds={"lightgbm", "mlflow"}, follows_new_data=False)
    def race_outcome_model(
        context: dg.AssetExecutionContext,
        config: TrainConfig,
        duckdb: WarehouseResource,
        mlflow: MlflowResource,
    ) -> dg.MaterializeResult:
        """The race-outcome model `p3-race-outcome`, trained, evaluated and registered in MLflow.

        One LightGBM order score plus win and podium classifiers over pre-race features of every
        started entry (marts.fct_race_results, fct_qualifying, dim_races). Evaluated season by
        season (train before S, test on S) against the grid and constructor-form baselines, then
        fitted on every season and registered; the `champion` alias moves only when the new
        version beats the champion on the same held-out seasons. Runs on the monthly schedule
        (`train_models_monthly_schedule`) or on demand, never on every new race, and trains only
        when no model is registered or the training data changed (a fingerprint of the feature
        frame and settings, tagged on each version); otherwise it records "model up to date".
        """
        from ml.registry import (
            comparison_json,
            tracking_client,
            train_evaluate_register,
            training_decision,
            training_fingerprint,
        )

        with duckdb.get_connection() as con:
            inputs = load_inputs(con)
        features = build_features(inputs)
        held_out = config.held_out_seasons or default_held_out(features)
        settings = config.training_config()
        fingerprint = training_fingerprint(features, settings, held_out)
        client = tracking_client(mlflow.tracking_uri)
        decision = training_decision(client, fingerprint, force=config.force)
        context.log.info(decision.reason)
        if not decision.train:
            return dg.MaterializeResult(metadata=_up_to_date_metadata(decision, client, mlflow))
        tags = {"dagster/run_id": context.run.run_id, "dagster/asset": MODEL_KEY.to_user_string()}
        with mlflow.start_run(run_name=f"dagster-{context.run.run_id[:8]}", tags=tags):
            outcome = train_evaluate_register(features, settings, held_out, fingerprint=fingerprint)
        context.log.info(comparison_json(outcome.comparison))
        return dg.MaterializeResult(
            metadata={
                "training": f"trained: {decision.reason}",
                "data_fingerprint": fingerprint,
                **_model_metadata(outcome, mlflow),
            }
        )

    return race_outcome_model


def significant(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits (metrics read better without noise)."""
    return float(f"{value:.{digits}g}")


def _up_to_date_metadata(
    decision: "TrainingDecision", client: "MlflowClient", mlflow: MlflowResource
) -> dict[str, object]:
    from ml.predict import MODEL_NAME

    version = decision.version
    run = client.get_run(version.run_id)
    return {
        "training": f"skipped: {decision.reason}",
        "data_fingerprint": decision.fingerprint,
        "mlflow_run_id": version.run_id,
        "mlflow_run": dg.MetadataValue.url(mlflow.run_url(run.info.experiment_id, version.run_id)),
        "model_version": str(version.version),
        "model_uri": f"models:/{MODEL_NAME}/{version.version}",
        "model_link": dg.MetadataValue.url(mlflow.model_url(MODEL_NAME, str(version.version))),
        **{  # the overall metrics of that run, named as a training run names them
            key.replace("/overall/", "/"): dg.MetadataValue.float(significant(value))
            for key, value in sorted(run.data.metrics.items())
            if "/overall/" in key
        },
    }


def _model_metadata(outcome: "TrainingOutcome", mlflow: MlflowResource) -> dict[str, object]:
    from ml.plots import markdown_image
    from ml.predict import MODEL_NAME

    evaluation = outcome.evaluation
    overall = {
        f"{predictor}/{metric}": evaluation.metric(predictor, metric)
        for predictor in ("model", "grid", "constructor_form")
        for metric in ("spearman", "winner_top1", "podium_brier")
    }
    return {
        "mlflow_run_id": outcome.run_id,
        "mlflow_run": dg.MetadataValue.url(mlflow.run_url(outcome.experiment_id, outcome.run_id)),
        "model_version": outcome.model_version,
        "model_uri": outcome.model_uri,
        "model_link": dg.MetadataValue.url(mlflow.model_url(MODEL_NAME, outcome.model_version)),
        "became_champion": outcome.became_champion,
        "champion_decision": outcome.comparison.reason,
        "held_out_seasons": dg.MetadataValue.json(evaluation.seasons),
        "evaluation": dg.MetadataValue.md(evaluation.to_markdown()),
        **{key: dg.MetadataValue.float(significant(value)) for key, value in overall.items()},
        "spearman_vs_grid": significant(
            evaluation.metric("model", "spearman") - evaluation.metric("grid", "spearman")
        ),
        "feature_importance_plot": dg.MetadataValue.md(
            markdown_image(outcome.figures["feature_importance"], "feature importance")
        ),
        "calibration_plot": dg.MetadataValue.md(
            markdown_image(outcome.figures["calibration"], "podium calibration")
        ),
    }


def _predictions_asset(deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @ml_asset(PREDICTIONS_KEY, [MODEL_KEY, *deps], kinds={"mlflow", "duckdb"})
    def race_predictions(
        context: dg.AssetExecutionContext, duckdb: WarehouseResource, mlflow: MlflowResource
    ) -> dg.MaterializeResult:
        """Predictions of the champion model for the next race, else the latest (ml.race_predictions).

        The next race is the first dated race of marts.dim_races after the last race with
        results: one row per entry of its qualifying (grid = qualifying position), or of the
        previous race when its qualifying is not in yet (`entry_basis`), actual columns null.
        When every race has results, the latest race is predicted with the actual result beside
        it. Follows new race data eagerly; the model itself is only retrained on schedule.
        """
        from ml.predict import latest_race_predictions, load_champion

        champion = load_champion(mlflow.tracking_uri)
        with duckdb.get_connection() as con:
            table = latest_race_predictions(con, champion)
            replace_table(con, PREDICTIONS_KEY.path[-1], table)
        race = table.iloc[0]
        shown = table[
            [
                "predicted_rank",
                "driver_name",
                "constructor_name",
                "grid_position",
                "win_prob",
                "podium_prob",
                "actual_rank",
            ]
        ]
        return dg.MaterializeResult(
            metadata={
                "race": f"{race['season']} round {race['round']}: {race['race_name']}",
                "champion_run_id": champion.metadata.run_id,
                "predicted_winner": str(race["driver_name"]),
                "entry_basis": str(race["entry_basis"]),
                # Null until the race has been run.
                "predicted_winner_won": None if pd.isna(race["is_win"]) else bool(race["is_win"]),
                "dagster/row_count": len(table),
                "predictions": dg.MetadataValue.md(shown.to_markdown(index=False, floatfmt=".3f")),
            }
        )

    return race_predictions


def _lap_anomalies_asset(deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @ml_asset(LAP_ANOMALIES_KEY, deps, kinds={"python", "duckdb"})
    def lap_time_anomalies_asset(duckdb: WarehouseResource) -> dg.MaterializeResult:
        """Laps abnormally slow or fast for that driver and stint (ml.lap_time_anomalies).

        Grain: one row per flagged lap of marts.fct_lap_times. Lap 1 and pit in/out laps are left
        out; each lap is compared with a rolling median of its stint, scaled by the stint's MAD
        (|robust z| > 5). Laps slow for most of the field (safety car, red flag) are kept but
        marked is_field_wide.
        """
        with duckdb.get_connection() as con:
            laps = load_laps(con)
            found = lap_time_anomalies(laps)
            replace_table(con, LAP_ANOMALIES_KEY.path[-1], found)
        driver = found[~found["is_field_wide"].astype(bool)]
        checked = {
            "laps_checked": len(laps),
            "driver_anomalies": len(driver),
            "field_wide_anomalies": len(found) - len(driver),
        }
        return dg.MaterializeResult(
            metadata=anomaly_metadata(found, checked, driver, "top_driver_anomalies")
        )

    return lap_time_anomalies_asset


def _pit_anomalies_asset(deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @ml_asset(PIT_ANOMALIES_KEY, deps, kinds={"python", "duckdb"})
    def pit_stop_anomalies_asset(duckdb: WarehouseResource) -> dg.MaterializeResult:
        """Pit stops abnormally long or short for their race (ml.pit_stop_anomalies).

        Grain: one row per flagged stop of marts.fct_pit_stops. Each stop's pit-lane time is
        compared with its race's median stop, scaled by the race's MAD (|robust z| > 4);
        red-flag stops are left out.
        """
        with duckdb.get_connection() as con:
            stops = load_pit_stops(con)
            found = pit_stop_anomalies(stops)
            replace_table(con, PIT_ANOMALIES_KEY.path[-1], found)
        return dg.MaterializeResult(
            metadata=anomaly_metadata(found, {"stops_checked": len(stops)}, found, "top_anomalies")
        )

    return pit_stop_anomalies_asset


def _profiles_asset(deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    @ml_asset(PROFILES_KEY, deps, kinds={"scikitlearn", "duckdb"})
    def driver_race_profiles(
        config: ProfilesConfig, duckdb: WarehouseResource
    ) -> dg.MaterializeResult:
        """Driver season profiles clustered into groups (ml.driver_race_profiles).

        Grain: one row per (season, driver) with at least 5 starts: qualifying and race
        strength, places gained, consistency, DNF and mechanical-DNF rates (from
        marts.fct_race_results), the k-means cluster and its plain-language name.
        """
        from ml.patterns import cluster_profiles, load_entries, season_profiles
        from ml.plots import markdown_image

        with duckdb.get_connection() as con:
            profiles = season_profiles(load_entries(con, min_season=config.min_season))
            result = cluster_profiles(profiles, k=config.clusters or None)
            table = result.profiles.merge(result.clusters[["cluster", "description"]], on="cluster")
            replace_table(con, PROFILES_KEY.path[-1], table)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(table),
                "clusters": len(result.clusters),
                "silhouette": significant(result.silhouette),
                "cluster_descriptions": dg.MetadataValue.md(
                    result.clusters[["cluster", "name", "size", "description"]].to_markdown(
                        index=False
                    )
                ),
                "plot": dg.MetadataValue.md(markdown_image(result.figure, "driver profiles")),
            }
        )

    return driver_race_profiles
