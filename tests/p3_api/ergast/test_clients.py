"""Real Ergast clients (ergast-py, FastF1) against a real server, checked against the shared CSVs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.p3_api.conftest import ApiServer

from .conftest import read_csv, run_fastf1

JOLPICA = "https://api.jolpi.ca/ergast"


def csv_race_id(season: int, round_: int) -> str:
    return next(
        r["raceId"]
        for r in read_csv("races.csv")
        if r["year"] == str(season) and r["round"] == str(round_)
    )


def driver_refs() -> dict[str, str]:
    return {r["driverId"]: r["driverRef"] for r in read_csv("drivers.csv")}


def points(text: str) -> float:
    return float(text)


def final_standings_2021() -> list[tuple[str, int, float, int]]:
    """(driverRef, position, points, wins) after the last 2021 round, from the CSVs."""
    last = max(int(r["round"]) for r in read_csv("races.csv") if r["year"] == "2021")
    race = csv_race_id(2021, last)
    refs = driver_refs()
    rows = [r for r in read_csv("driver_standings.csv") if r["raceId"] == race]
    return sorted(
        (refs[r["driverId"]], int(r["position"]), points(r["points"]), int(r["wins"])) for r in rows
    )


def monaco_2008() -> list[tuple[str, int, float, int, int]]:
    """(driverRef, positionOrder, points, grid, laps) of the 2008 Monaco GP, from the CSVs."""
    race = next(
        r["raceId"]
        for r in read_csv("races.csv")
        if r["year"] == "2008" and r["name"] == "Monaco Grand Prix"
    )
    refs = driver_refs()
    rows = [r for r in read_csv("results.csv") if r["raceId"] == race]
    return sorted(
        (
            refs[r["driverId"]],
            int(r["positionOrder"]),
            points(r["points"]),
            int(r["grid"]),
            int(r["laps"]),
        )
        for r in rows
    )


def brazil_2019_lap1() -> list[tuple[str, int, str]]:
    """(driverRef, position, time) of lap 1 of 2019 round 21 (Brazil), from the CSVs."""
    race = csv_race_id(2019, 21)
    refs = driver_refs()
    rows = [r for r in read_csv("lap_times.csv") if r["raceId"] == race and r["lap"] == "1"]
    return sorted((refs[r["driverId"]], int(r["position"]), r["time"]) for r in rows)


@pytest.fixture
def ergast_py(ergast_api: ApiServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """ergast-py, unchanged, with its requests sent to our server instead of api.jolpi.ca.

    ergast-py has no base-URL setting (the Jolpica URL is a literal in its requester), so the
    transport is redirected: the client's own URL building, decoding and models run as shipped.
    """
    import ergast_py
    import ergast_py.requester

    real_get = requests.get

    def to_local(url: str, *args: Any, **kwargs: Any) -> requests.Response:
        assert url.startswith(JOLPICA), url
        return real_get(
            ergast_api.base_url + "/ergast" + url[len(JOLPICA) :], *args, timeout=60, **kwargs
        )

    monkeypatch.setattr(ergast_py.requester.requests, "get", to_local)
    yield ergast_py.Ergast


def test_ergast_py_reads_the_2021_final_driver_standings(ergast_py: Any) -> None:
    standings = ergast_py().season(2021).get_driver_standing()
    assert standings.season == 2021 and standings.round_no == 22
    answer = sorted(
        (s.driver.driver_id, s.position, s.points, s.wins) for s in standings.driver_standings
    )
    assert answer == final_standings_2021()
    champion = next(s for s in standings.driver_standings if s.position == 1)
    assert [c.constructor_id for c in champion.constructors] == ["red_bull"]


def test_ergast_py_reads_monaco_2008_results(ergast_py: Any) -> None:
    race = ergast_py().season(2008).round(6).get_result()
    assert race.race_name == "Monaco Grand Prix"
    answer = sorted(
        (r.driver.driver_id, r.position, r.points, r.grid, r.laps) for r in race.results
    )
    assert answer == monaco_2008()


def test_ergast_py_reads_brazil_2019_lap_one(ergast_py: Any) -> None:
    race = ergast_py().season(2019).round(21).lap(1).get_lap()
    [lap] = race.laps
    assert lap.number == 1
    answer = sorted(
        (
            t.driver_id,
            t.position,
            f"{t.time.minute}:{t.time.second:02d}.{t.time.microsecond // 1000:03d}",
        )
        for t in lap.timings
    )
    assert answer == brazil_2019_lap1()


def test_fastf1_reads_standings_results_and_laps(
    ergast_api: ApiServer, fastf1_python: Path, tmp_path: Path
) -> None:
    answers: dict[str, Any] = run_fastf1(fastf1_python, ergast_api.base_url, tmp_path)
    standings = sorted(
        (r["driverId"], r["position"], r["points"], r["wins"]) for r in answers["standings_2021"]
    )
    assert standings == final_standings_2021()
    assert next(r for r in answers["standings_2021"] if r["position"] == 1)["constructorIds"] == [
        "red_bull"
    ]
    monaco = sorted(
        (r["driverId"], r["position"], r["points"], r["grid"], r["laps"])
        for r in answers["monaco_2008"]
    )
    assert monaco == monaco_2008()
    # FastF1 casts lap times to timedeltas, serialised here as ISO 8601 durations (PT1M12.345S).
    expected = brazil_2019_lap1()
    assert answers["laps_total"] == len(expected)
    laps = sorted((r["driverId"], r["position"], r["time"]) for r in answers["laps_2019_21_lap1"])
    assert [(d, p) for d, p, _ in laps] == [(d, p) for d, p, _ in expected]
    assert [t for _, _, t in laps] == [iso_duration(t) for _, _, t in expected]


def iso_duration(lap_time: str) -> str:
    """``1:12.345`` as pandas writes a timedelta in ISO 8601 (``P0DT0H1M12.345S``)."""
    minutes, seconds = lap_time.split(":")
    return f"P0DT0H{int(minutes)}M{float(seconds):.3f}S"
