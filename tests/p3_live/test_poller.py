"""Live mode against a real Ergast-compatible server (the P3 API on the session snapshot): the
polled race folds into the same state as its replay, within a throttle, through 429s."""

from __future__ import annotations

from pathlib import Path

import pytest

from p3_live.poller import ErgastApi, Poller, Throttle, lap_time_ms
from p3_live.processor import Processor
from p3_live.state import RaceState, reduce
from p3_live.streams import Publisher, Race, connect
from tests.p3_api.conftest import launch
from tests.p3_live.conftest import StoredRace


def test_the_throttle_spaces_requests_and_keeps_an_hourly_budget() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    throttle = Throttle(4.0, 6, clock=lambda: now[0], sleep=sleep)
    for _ in range(7):
        throttle.wait()
    assert slept[:5] == [0.25] * 5
    # The seventh request waits for the first to leave the hour.
    assert now[0] == pytest.approx(3600.0)


@pytest.mark.parametrize(
    ("text", "ms"), [("1:32.123", 92_123), ("59.8", 59_800), ("21.274", 21_274)]
)
def test_lap_times_parse_to_milliseconds(text: str, ms: int) -> None:
    assert lap_time_ms(text) == ms


def _fold(stored_race: StoredRace) -> RaceState:
    state = RaceState.empty(stored_race.season, stored_race.round)
    for timed in stored_race.events:
        state = reduce(state, timed.event)
    return state


@pytest.mark.slow
def test_polling_a_race_from_the_api_gives_the_replays_state_through_rate_limits(
    redis_url: str, prefix: str, stored_race: StoredRace, tmp_path: Path
) -> None:
    snapshot = stored_race.snapshot
    # Anonymous Ergast reads limited to 2 a second: the poller's faster throttle meets 429s.
    server = launch(snapshot.path, tmp_path, workers=1, P3_API_RATE_ANONYMOUS="2/second")
    try:
        refs = dict(snapshot.query("select driver_ref, driver_id from marts.dim_drivers"))
        client = connect(redis_url)
        race = Race(prefix, stored_race.season, stored_race.round)
        publish = Publisher(client, race, maxlen=100_000)
        api = ErgastApi(f"{server.base_url}/ergast/f1", Throttle(50.0, 10_000))
        total = max(e.event.total_laps for e in stored_race.events[:1])  # type: ignore[union-attr]
        poller = Poller(api, publish, race.season, race.round, total, refs)
        poller.run(interval_seconds=0.1)
        api.close()
    finally:
        server.stop()
    assert poller.finished
    assert api.requests > 0
    assert api.retried > 0  # the server's limit answered 429, and the poller tried again
    Processor(client, prefix, "poll-test").run([race], until_finished=True)
    polled = RaceState.model_validate_json(client.get(race.state))
    expected = _fold(stored_race)
    assert polled.classification == expected.classification
    for driver_id, driver in expected.drivers.items():
        mine = polled.drivers[driver_id]
        assert mine.laps == driver.laps, driver_id
        assert {s: (p.lap, p.duration_ms) for s, p in mine.pits.items()} == {
            s: (p.lap, p.duration_ms) for s, p in driver.pits.items()
        }
        assert (mine.retired is None) == (driver.retired is None)
        assert mine.entrant.grid == driver.entrant.grid
    assert polled.fastest_lap == expected.fastest_lap
