"""Live probabilities and lap anomalies: the registered in-race model, loaded from MLflow, applied
by a processor to every published state of a real race."""

from __future__ import annotations

import json

import pytest

from ml.features import build_features, load_inputs
from ml.in_race import InRaceConfig
from ml.in_race_registry import train_evaluate_register_in_race, training_rows
from ml.registry import open_run, train_evaluate_register
from ml.train import TrainConfig
from p3_common.snapshot import open_snapshot
from p3_live.anomalies import LapAnomalies
from p3_live.probabilities import Probabilities, champion_pre_race, load_in_race_model
from p3_live.processor import Processor, chain
from p3_live.replay import replay
from p3_live.streams import Publisher, Race, connect
from tests.p3_live.conftest import StoredRace


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory, snapshot) -> str:  # type: ignore[no-untyped-def]
    """A store with a race-outcome champion and an in-race champion trained on the snapshot."""
    folder = tmp_path_factory.mktemp("live_mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with open_snapshot(snapshot.path) as con:
        features = build_features(load_inputs(con))
        seasons = sorted(features["season"].unique())
        # The last eight seasons (the demo championship has five).
        first = int(seasons[-min(8, len(seasons))])
        outcome_config = TrainConfig(min_season=first, n_estimators=60)
        in_race_config = InRaceConfig(min_season=first, n_estimators=60, every_laps=5)
        rows, held_out = training_rows(con, in_race_config)
    with open_run(uri, "p3-tests", artifacts_dir=folder / "artifacts"):
        train_evaluate_register(features, outcome_config, [int(seasons[-1])])
    with open_run(uri, "p3-tests-in-race", artifacts_dir=folder / "artifacts"):
        train_evaluate_register_in_race(rows, held_out, in_race_config)
    return uri


@pytest.mark.slow
def test_every_published_state_carries_normalised_probabilities_and_flags(
    redis_url: str, prefix: str, stored_race: StoredRace, mlflow_store: str
) -> None:
    client = connect(redis_url)
    race = Race(prefix, stored_race.season, stored_race.round)
    replay(stored_race.events, Publisher(client, race, maxlen=100_000), speed=None)
    probabilities = Probabilities(
        load_in_race_model(mlflow_store), champion_pre_race(stored_race.snapshot.path, mlflow_store)
    )
    processor = Processor(client, prefix, "with-model", enrich=chain(probabilities, LapAnomalies()))
    processor.run([race], until_finished=True)
    assert probabilities._pre_race[(race.season, race.round)], "no pre-race input was computed"
    boards = [json.loads(fields["state"]) for _, fields in client.xrange(race.states)]
    assert len(boards) == len(stored_race.events)
    for board in boards:
        rows = board["rows"]
        assert all(0.0 <= r["win_prob"] <= 1.0 and 0.0 <= r["podium_prob"] <= 1.0 for r in rows)
        assert sum(r["win_prob"] for r in rows) == pytest.approx(1.0, abs=1e-6)
        assert all(r["win_prob"] == 0.0 for r in rows if r["retired"])
        assert "lap_anomalies" in board
    final = boards[-1]
    assert final["status"] == "finished"
    assert [r["win_prob"] for r in final["rows"]][:2] == [1.0, 0.0]
    if stored_race.snapshot.kind == "real":
        # With a tenth of the race to go, the eventual winner is the favourite: a claim about
        # real races (the demo's synthetic lap times are no race anyone drove).
        official = stored_race.official_order()
        late = next(b for b in boards if b["laps_remaining"] <= b["total_laps"] // 10)
        favourite = max(late["rows"], key=lambda r: r["win_prob"])
        assert favourite["driver_id"] == official[0]
        assert favourite["win_prob"] > 0.5
