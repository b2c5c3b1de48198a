"""The Ergast URL grammar, parsed without a server."""

from __future__ import annotations

import pytest

from p3_api.ergast.grammar import ErgastRequest, UnknownPath, parse


def test_filters_in_any_order_parse_to_the_same_request() -> None:
    a = parse("2008/drivers/hamilton/constructors/mclaren/grid/1/results.json")
    b = parse("2008/grid/1/constructors/mclaren/drivers/hamilton/results")
    assert (
        a
        == b
        == ErgastRequest(
            resource="results", season=2008, driver="hamilton", constructor="mclaren", grid=1
        )
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("2023.json", ErgastRequest(resource="races", season=2023)),
        ("current/last/results", ErgastRequest(resource="results", season="current", round="last")),
        ("current/next.json", ErgastRequest(resource="races", season="current", round="next")),
        ("drivers/alonso.json", ErgastRequest(resource="drivers", driver="alonso")),
        ("2023/1/laps/5", ErgastRequest(resource="laps", season=2023, round=1, lap=5)),
        (
            "2023/18/laps/10/pitstops/",
            ErgastRequest(resource="pitstops", season=2023, round=18, lap=10),
        ),
        (
            "2023/22/driverstandings/1.json",
            ErgastRequest(resource="driverStandings", season=2023, round=22, driver_standing=1),
        ),
        ("driverStandings/1/drivers", ErgastRequest(resource="drivers", driver_standing=1)),
        (
            "drivers/scott_Brown/results/1",
            ErgastRequest(resource="results", driver="scott_Brown", position=1),
        ),
        ("drivers/a/drivers/b/status", ErgastRequest(resource="status", driver="b")),
    ],
)
def test_ergast_paths_parse(path: str, expected: ErgastRequest) -> None:
    assert parse(path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "2023/teams",
        "2023/1/grid/1",
        "drivers",
        "2023/grid/x/results",
        "2023/results.xml",
        "f1/2023",
    ],
)
def test_paths_outside_the_grammar_are_refused(path: str) -> None:
    if path == "drivers":
        assert parse(path).resource == "drivers"  # a bare resource is fine
        return
    with pytest.raises(UnknownPath):
        parse(path)


def test_the_limit_is_cut_to_ergasts_maximum() -> None:
    assert parse("results", limit=5000, offset=3) == ErgastRequest(
        resource="results", limit=1000, offset=3
    )
