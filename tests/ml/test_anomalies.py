"""Lap-time and pit-stop anomalies on synthetic races: injected anomalies are found, clean laps are not flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.anomalies import lap_time_anomalies, pit_stop_anomalies, score_laps

# Stated false-positive budget on clean laps: at most 0.5 % of the racing laps may be flagged.
CLEAN_FALSE_POSITIVE_RATE = 0.005
PIT_LAPS = (18, 38)  # every driver pits on these laps: three stints


def synthetic_laps(seed: int, *, drivers: int = 20, laps: int = 57) -> pd.DataFrame:
    """A normal race: per-driver pace, fuel burn, tyre wear per stint, 0.25 s Gaussian noise,
    a slow standing-start lap 1 and ~20 s slower pit in/out laps."""
    rng = np.random.default_rng(seed)
    rows = []
    for driver in range(1, drivers + 1):
        pace = 90_000 + rng.normal(0, 600)
        stint_start = 1
        for lap in range(1, laps + 1):
            if lap - 1 in PIT_LAPS:
                stint_start = lap
            fuel = -60.0 * lap
            wear = 70.0 * (lap - stint_start)
            time_ms = pace + fuel + wear + rng.normal(0, 250)
            is_in, is_out = lap in PIT_LAPS, lap - 1 in PIT_LAPS
            time_ms += 4_000 * (lap == 1) + 20_000 * is_in + 18_000 * is_out
            rows.append(
                {
                    "race_id": 1,
                    "season": 2024,
                    "round": 1,
                    "driver_id": driver,
                    "constructor_id": (driver + 1) // 2,
                    "lap": lap,
                    "lap_time_ms": round(time_ms),
                    "is_first_lap": lap == 1,
                    "is_pit_in_lap": is_in,
                    "is_pit_out_lap": is_out,
                }
            )
    return pd.DataFrame(rows)


def _inject(laps: pd.DataFrame, changes: dict[tuple[int, int], int]) -> pd.DataFrame:
    out = laps.copy()
    for (driver, lap), delta in changes.items():
        row = (out["driver_id"] == driver) & (out["lap"] == lap)
        out.loc[row, "lap_time_ms"] += delta
    return out


INJECTED = {
    (1, 10): 6_000,  # a spin
    (2, 25): 3_500,  # a lock-up and a trip over the kerbs
    (3, 45): 9_000,  # a slow puncture on the way back
    (4, 30): -3_000,  # a timing error: impossibly fast
    (5, 5): 2_500,
    (6, 52): 4_000,
    (7, 33): -2_500,
    (8, 20): 5_000,
}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_injected_anomalies_are_all_found(seed: int) -> None:
    laps = _inject(synthetic_laps(seed), INJECTED)

    found = lap_time_anomalies(laps)

    flagged = set(zip(found["driver_id"], found["lap"], strict=True))
    assert set(INJECTED) <= flagged
    extra = flagged - set(INJECTED)
    assert len(extra) <= CLEAN_FALSE_POSITIVE_RATE * len(score_laps(laps))
    directions = found.set_index(["driver_id", "lap"])["direction"]
    assert directions[(4, 30)] == "fast" and directions[(3, 45)] == "slow"
    assert not found["is_field_wide"].any()


@pytest.mark.parametrize("seed", range(10, 16))
def test_clean_laps_stay_within_the_stated_false_positive_rate(seed: int) -> None:
    laps = synthetic_laps(seed)

    found = lap_time_anomalies(laps)

    racing = len(score_laps(laps))
    assert racing > 0.85 * len(laps)  # only lap 1 and the pit laps are left out
    assert len(found) <= CLEAN_FALSE_POSITIVE_RATE * racing


def test_first_laps_and_pit_laps_are_never_flagged() -> None:
    laps = synthetic_laps(4)
    excluded = laps["is_first_lap"] | laps["is_pit_in_lap"] | laps["is_pit_out_lap"]
    laps.loc[excluded, "lap_time_ms"] += 60_000

    found = lap_time_anomalies(laps)

    assert found.empty


def test_a_safety_car_lap_is_flagged_as_field_wide() -> None:
    laps = synthetic_laps(5)
    laps.loc[laps["lap"] == 30, "lap_time_ms"] += 35_000

    found = lap_time_anomalies(laps)

    safety_car = found[found["lap"] == 30]
    assert len(safety_car) == 20
    assert safety_car["is_field_wide"].all()
    assert found[found["lap"] != 30].empty


def synthetic_stops(seed: int) -> pd.DataFrame:
    """Two races with different pit-lane lengths, two stops per driver, 0.4 s noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for race_id, base in ((1, 22_000), (2, 29_000)):
        for driver in range(1, 21):
            for stop in (1, 2):
                rows.append(
                    {
                        "race_id": race_id,
                        "season": 2024,
                        "round": race_id,
                        "driver_id": driver,
                        "constructor_id": (driver + 1) // 2,
                        "stop": stop,
                        "lap": 15 * stop,
                        "duration_ms": round(base + rng.normal(0, 400)),
                        "is_red_flag_stop": False,
                    }
                )
    return pd.DataFrame(rows)


def test_a_slow_pit_stop_is_found_against_its_own_race_and_red_flag_stops_are_ignored() -> None:
    stops = synthetic_stops(1)
    slow = (stops["race_id"] == 1) & (stops["driver_id"] == 7) & (stops["stop"] == 2)
    stops.loc[slow, "duration_ms"] += 12_000  # a wheel-nut problem
    red_flag = (stops["race_id"] == 2) & (stops["driver_id"] == 3) & (stops["stop"] == 1)
    stops.loc[red_flag, ["duration_ms", "is_red_flag_stop"]] = [1_200_000, True]

    found = pit_stop_anomalies(stops)

    assert found[["race_id", "driver_id", "stop"]].values.tolist() == [[1, 7, 2]]
    assert found["direction"].iloc[0] == "slow"
    # Race 1's 22 s stops are normal for race 1 although race 2's median is 29 s.
    assert pit_stop_anomalies(synthetic_stops(2)).empty
