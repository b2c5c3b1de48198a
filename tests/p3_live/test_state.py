"""The reducer: order, gaps, pits, retirements, fastest lap, laps remaining; idempotent per fact."""

from __future__ import annotations

import itertools

import pytest

from p3_live.events import (
    Classified,
    Entrant,
    Event,
    LapCompleted,
    PitStop,
    RaceFinish,
    RaceStart,
    Retirement,
)
from p3_live.state import EventRejected, RaceState, order, reduce, view

RACE = {"season": 2020, "round": 3}
A, B, C = 1, 2, 3


def start(total_laps: int = 10) -> RaceStart:
    return RaceStart(
        **RACE,
        total_laps=total_laps,
        drivers=[
            Entrant(driver_id=A, code="AAA", name="Ann", constructor="Red", grid=2),
            Entrant(driver_id=B, code="BBB", name="Bob", constructor="Blue", grid=1),
            Entrant(driver_id=C, code="CCC", name="Cat", constructor="Red", grid=3),
        ],
    )


def lap(driver: int, n: int, elapsed: int, position: int, time_ms: int = 80_000) -> LapCompleted:
    return LapCompleted(
        **RACE, driver_id=driver, lap=n, lap_time_ms=time_ms, position=position, elapsed_ms=elapsed
    )


def fold(events: list[Event]) -> RaceState:
    state = RaceState.empty(RACE["season"], RACE["round"])
    for event in events:
        state = reduce(state, event)
    return state


def test_before_the_first_lap_the_order_is_the_grid() -> None:
    state = fold([start()])
    assert order(state) == [B, A, C]
    board = view(state)
    assert board["status"] == "running"
    assert (board["lap"], board["laps_remaining"]) == (0, 10)


def test_order_gap_and_interval_follow_the_line_crossings() -> None:
    state = fold(
        [
            start(),
            lap(A, 1, 80_000, 1),
            lap(B, 1, 81_500, 2),
            lap(C, 1, 84_000, 3),
            lap(B, 2, 160_000, 1, time_ms=78_500),  # B passes A on lap 2
        ]
    )
    board = view(state)
    rows = board["rows"]
    # B has two laps, A and C one: B leads although A was ahead when they last crossed.
    assert [r["driver_id"] for r in rows] == [B, A, C]
    assert (board["lap"], board["laps_remaining"]) == (2, 8)
    assert rows[0]["gap_ms"] is None
    # A's gap to B at lap 1 (the last lap both completed): A was 1.5 s ahead then.
    assert rows[1]["gap_ms"] == -1_500
    assert rows[2]["gap_ms"] == 2_500
    assert rows[2]["interval_ms"] == 4_000
    assert rows[0]["last_lap_ms"] == 78_500
    assert rows[0]["best_lap_ms"] == 78_500
    assert board["fastest_lap"] == {"driver_id": B, "lap": 2, "time_ms": 78_500}


def test_a_lapped_driver_shows_the_laps_down() -> None:
    state = fold([start(), lap(A, 1, 80_000, 1), lap(A, 2, 160_000, 1), lap(B, 1, 170_000, 2)])
    rows = view(state)["rows"]
    assert rows[1]["driver_id"] == B
    assert rows[1]["laps_down"] == 1
    assert rows[1]["gap_ms"] == 90_000


def test_a_lap_delivered_twice_counts_once() -> None:
    first = fold([start(), lap(A, 1, 80_000, 1)])
    again = reduce(first, lap(A, 1, 80_000, 1))
    assert again is first
    assert again.events_applied == 2
    # A different report of the same (driver, lap) does not overwrite the first either.
    assert reduce(first, lap(A, 1, 99_000, 3, time_ms=99_000)) is first


def test_the_state_does_not_depend_on_the_order_of_one_drivers_laps() -> None:
    events = [lap(A, 1, 80_000, 1), lap(A, 2, 160_000, 1), lap(B, 1, 81_000, 2)]
    states = [fold([start(), *permutation]) for permutation in itertools.permutations(events)]
    assert all(state == states[0] for state in states)
    assert all(view(state) == view(states[0]) for state in states)


def test_pits_retirements_and_the_finish() -> None:
    state = fold(
        [
            start(total_laps=2),
            lap(A, 1, 80_000, 1),
            lap(B, 1, 81_000, 2),
            lap(C, 1, 82_000, 3),
            PitStop(**RACE, driver_id=A, lap=1, stop=1, duration_ms=22_000),
            PitStop(**RACE, driver_id=A, lap=1, stop=1, duration_ms=22_000),
            Retirement(**RACE, driver_id=B, lap=1, status="Engine"),
            lap(A, 2, 160_000, 1),
            lap(C, 2, 165_000, 2),
        ]
    )
    rows = view(state)["rows"]
    assert [r["driver_id"] for r in rows] == [A, C, B]
    assert rows[0]["pits"] == 1
    assert (rows[2]["retired"], rows[2]["status"]) == (True, "Engine")
    # The official result (a penalty for A) replaces the order on the road.
    finished = reduce(
        state,
        RaceFinish(
            **RACE,
            classification=[
                Classified(driver_id=C, position_text="1", status="Finished", laps=2),
                Classified(driver_id=A, position_text="2", status="Finished", laps=2),
                Classified(driver_id=B, position_text="R", status="Engine", laps=1),
            ],
        ),
    )
    board = view(finished)
    assert board["status"] == "finished"
    assert [r["driver_id"] for r in board["rows"]] == [C, A, B]
    assert board["rows"][2]["position_text"] == "R"


@pytest.mark.parametrize(
    ("before", "event", "reason"),
    [
        ([], lap(A, 1, 80_000, 1), "lap event before the race_start event"),
        ([start()], lap(9, 1, 80_000, 1), "driver 9, who is not on the entry list"),
        (
            [start()],
            LapCompleted(season=2020, round=4, driver_id=A, lap=1, lap_time_ms=1, position=1, elapsed_ms=1),
            "event of 2020/4 on the stream of 2020/3",
        ),
    ],
)  # fmt: skip
def test_an_event_that_does_not_fit_the_race_is_rejected(
    before: list[Event], event: Event, reason: str
) -> None:
    with pytest.raises(EventRejected, match=reason):
        reduce(fold(before), event)
