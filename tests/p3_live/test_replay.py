"""A stored race as timing events: complete, in race-time order, paced by the speed factor, and
folding into the race's real lead changes and official result."""

from __future__ import annotations

from p3_live.events import LapCompleted, PitStop, RaceFinish, RaceStart, Retirement
from p3_live.replay import replay
from p3_live.state import RaceState, order, reduce
from tests.p3_live.conftest import StoredRace


def test_the_replay_holds_every_lap_stop_and_retirement_in_time_order(
    stored_race: StoredRace,
) -> None:
    events = stored_race.events
    season, round = stored_race.season, stored_race.round
    (laps,) = stored_race.snapshot.query(
        "select count(*) from marts.fct_lap_times where season = ? and round = ? and lap_time_ms > 0",
        [season, round],
    )[0]
    (stops,) = stored_race.snapshot.query(
        "select count(*) from marts.fct_pit_stops where season = ? and round = ?", [season, round]
    )[0]
    kinds = [type(e.event) for e in events]
    assert kinds[0] is RaceStart and kinds[-1] is RaceFinish
    assert kinds.count(LapCompleted) == laps
    assert kinds.count(PitStop) == stops
    times = [e.at_ms for e in events]
    assert times == sorted(times)
    # Per driver, laps come in lap order and each lap's race time is the sum of its lap times.
    seen: dict[int, tuple[int, int]] = {}
    for timed in events:
        if isinstance(timed.event, LapCompleted):
            lap, elapsed = seen.get(timed.event.driver_id, (0, 0))
            assert timed.event.lap > lap
            assert timed.event.elapsed_ms == elapsed + timed.event.lap_time_ms == timed.at_ms
            seen[timed.event.driver_id] = (timed.event.lap, timed.event.elapsed_ms)


def test_folding_the_replay_follows_the_real_lead_changes_and_ends_in_the_official_order(
    stored_race: StoredRace,
) -> None:
    state = RaceState.empty(stored_race.season, stored_race.round)
    leaders: list[int] = []
    on_the_road: list[int] = []
    for timed in stored_race.events:
        if isinstance(timed.event, RaceFinish):
            on_the_road = order(state)
        state = reduce(state, timed.event)
        if isinstance(timed.event, LapCompleted):
            leader = order(state)[0]
            if not leaders or leaders[-1] != leader:
                leaders.append(leader)
    assert leaders == stored_race.lap_leaders()
    assert order(state) == stored_race.official_order()
    retired = {e.event.driver_id for e in stored_race.events if isinstance(e.event, Retirement)}
    assert set(on_the_road[-len(retired) :]) == retired if retired else True
    if stored_race.snapshot.kind == "real":
        # Brazil 2019: Hamilton (id 1) crossed the line third, then a penalty classified him seventh.
        assert leaders == [830, 20, 830, 20, 830, 1, 830]
        assert on_the_road.index(1) == 2 and order(state).index(1) == 6


def test_the_replay_is_paced_by_the_speed_factor(stored_race: StoredRace) -> None:
    now = [0.0]
    published_at: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    events = stored_race.events
    count = replay(
        events,
        lambda event: published_at.append(now[0]),
        speed=60,
        clock=lambda: now[0],
        sleep=sleep,
    )
    assert count == len(events)
    race_seconds = events[-1].at_ms / 1000
    assert abs(published_at[-1] - race_seconds / 60) < 1e-6
    assert all(abs(t - e.at_ms / 60_000) < 1e-6 for t, e in zip(published_at, events, strict=True))
