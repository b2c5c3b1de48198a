"""The in-race model asset: a thin wrapper over `ml.in_race` that reads the marts and logs to MLflow."""

# No `from __future__ import annotations`: Dagster reads config, context and resource hints at runtime.

from collections.abc import Sequence

import dagster as dg
from pydantic import Field

from ml.in_race_config import InRaceConfig as ModelConfig

from ...lib.mlflow_resource import MlflowResource
from ...lib.resources import WarehouseResource
from ..ml.assets import ml_asset, significant

IN_RACE_MODEL_KEY = dg.AssetKey(["ml", "in_race_model"])
MARTS_READ = ("fct_lap_times", "fct_pit_stops", "fct_race_results", "fct_qualifying", "dim_races")
EXPERIMENT = "p3-in-race"
_DEFAULTS = ModelConfig()


class InRaceTrainConfig(dg.Config):
    """Run configuration of ``ml/in_race_model``."""

    held_out_seasons: list[int] = Field(
        default_factory=list,
        description="Seasons evaluated; empty = the two latest seasons with lap times.",
    )
    min_season: int = Field(default=_DEFAULTS.min_season, description="First season of laps.")
    every_laps: int = Field(default=_DEFAULTS.every_laps, description="One row per N laps.")
    n_estimators: int = _DEFAULTS.n_estimators


def build_in_race_model(deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """``ml/in_race_model`` depending on the mart keys ``deps``."""

    @ml_asset(IN_RACE_MODEL_KEY, deps, kinds={"lightgbm", "mlflow"}, follows_new_data=False)
    def in_race_model(
        context: dg.AssetExecutionContext,
        config: InRaceTrainConfig,
        duckdb: WarehouseResource,
        mlflow: MlflowResource,
    ) -> dg.MaterializeResult:
        """The in-race model `p3-in-race`: live win and podium probabilities, in MLflow.

        Grain: one training row per running driver every few laps of every race with lap times
        (marts.fct_lap_times, fct_pit_stops, fct_race_results; pre-race probabilities from a
        race-outcome model fitted out of sample on fct_race_results, fct_qualifying, dim_races).
        Features: position, gap to the leader, laps remaining, pit stops, pre-race win and podium
        probability. Evaluated on held-out seasons against the pre-race prediction alone and the
        historical rate of each position at that stage, with a calibration plot; the `champion`
        alias moves only on a better held-out win Brier score. `p3 live process` applies it.
        Trained on demand (or with the whole graph), never on every new race.
        """
        from ml.in_race_registry import train_evaluate_register_in_race, training_rows
        from ml.plots import markdown_image

        settings = ModelConfig(
            min_season=config.min_season,
            every_laps=config.every_laps,
            n_estimators=config.n_estimators,
        )
        with duckdb.get_connection() as con:
            rows, held_out = training_rows(con, settings, config.held_out_seasons or None)
        tags = {
            "dagster/run_id": context.run.run_id,
            "dagster/asset": IN_RACE_MODEL_KEY.to_user_string(),
        }
        with mlflow.start_run(
            run_name=f"dagster-{context.run.run_id[:8]}", tags=tags, experiment=EXPERIMENT
        ):
            outcome = train_evaluate_register_in_race(rows, held_out, settings)
        context.log.info(outcome.decision)
        evaluation = outcome.evaluation
        summary = evaluation.summary[evaluation.summary["progress"] == "overall"]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": outcome.rows,
                "mlflow_run_id": outcome.run_id,
                "mlflow_run": dg.MetadataValue.url(
                    mlflow.run_url(outcome.experiment_id, outcome.run_id)
                ),
                "model_uri": outcome.model_uri,
                "became_champion": outcome.promoted,
                "champion_decision": outcome.decision,
                "held_out_seasons": dg.MetadataValue.json(evaluation.seasons),
                **{
                    f"{predictor}/{metric}": dg.MetadataValue.float(
                        significant(evaluation.metric(predictor, metric))
                    )
                    for predictor in ("model", "pre_race", "position_rate")
                    for metric in ("win_brier", "podium_brier")
                },
                "evaluation": dg.MetadataValue.md(summary.to_markdown(index=False, floatfmt=".4f")),
                "calibration_plot": dg.MetadataValue.md(
                    markdown_image(outcome.figure, "in-race calibration")
                ),
            }
        )

    return in_race_model
