"""Ergast reads from a real server: paging, filters, resolution, errors, checked against the CSVs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.p3_api.conftest import ApiServer

from .conftest import read_csv


def get(server: ApiServer, path: str, **params: Any) -> dict[str, Any]:
    with server.client() as client:
        answer = client.get(f"/ergast/f1/{path}", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["MRData"]


def test_pages_of_results_merge_into_the_csv_rows(ergast_api: ApiServer) -> None:
    # Hamilton's 2008 results, 7 a page: races continue across pages and merge back by round.
    refs = {r["driverId"]: r["driverRef"] for r in read_csv("drivers.csv")}
    races = {r["raceId"]: int(r["round"]) for r in read_csv("races.csv") if r["year"] == "2008"}
    expected = sorted(
        (races[r["raceId"]], int(r["positionOrder"]), r["points"])
        for r in read_csv("results.csv")
        if r["raceId"] in races and refs[r["driverId"]] == "hamilton"
    )
    seen: list[tuple[int, int, str]] = []
    offset = 0
    while True:
        page = get(ergast_api, "2008/drivers/hamilton/results.json", limit=7, offset=offset)
        assert page["total"] == str(len(expected)) and page["limit"] == "7"
        for race in page["RaceTable"]["Races"]:
            seen += [(int(race["round"]), int(r["position"]), r["points"]) for r in race["Results"]]
        offset += 7
        if offset >= int(page["total"]):
            break
    assert sorted(seen) == expected


def test_a_page_past_the_end_is_empty_and_still_counts_every_row(ergast_api: ApiServer) -> None:
    first = get(ergast_api, "2008/drivers/hamilton/results.json", limit=5)
    beyond = get(ergast_api, "2008/drivers/hamilton/results.json", limit=5, offset=1000)
    statuses = get(ergast_api, "2008/status.json", limit=2)
    all_statuses = get(ergast_api, "2008/status.json", limit=100)
    assert int(first["total"]) > 5 and beyond["total"] == first["total"]
    assert beyond["RaceTable"]["Races"] == []
    # A grouped resource counts its groups, not the rows grouped.
    assert statuses["total"] == str(len(all_statuses["StatusTable"]["Status"]))


def test_filters_in_any_order_give_the_same_answer(ergast_api: ApiServer) -> None:
    a = get(ergast_api, "drivers/alonso/circuits/monaco/results.json", limit=100)
    b = get(ergast_api, "circuits/monaco/drivers/alonso/results", limit=100)
    assert a["RaceTable"] == b["RaceTable"] and int(a["total"]) > 10
    assert {r["Circuit"]["circuitId"] for r in a["RaceTable"]["Races"]} == {"monaco"}


def test_seasons_list_every_season_with_its_url(ergast_api: ApiServer) -> None:
    page = get(ergast_api, "seasons.json", limit=100)
    expected = sorted((r["year"], r["url"]) for r in read_csv("seasons.csv"))
    assert [(s["season"], s["url"]) for s in page["SeasonTable"]["Seasons"]] == expected


def test_world_champions_are_the_final_round_leaders(ergast_api: ApiServer) -> None:
    last_race = {}
    for r in read_csv("races.csv"):
        if int(r["round"]) > int(last_race.get(r["year"], ("0", "0"))[1]):
            last_race[r["year"]] = (r["raceId"], r["round"])
    finals = {race for race, _ in last_race.values()}
    refs = {r["driverId"]: r["driverRef"] for r in read_csv("drivers.csv")}
    champions = {
        refs[r["driverId"]]
        for r in read_csv("driver_standings.csv")
        if r["raceId"] in finals and r["position"] == "1"
    }
    page = get(ergast_api, "driverStandings/1/drivers.json", limit=100)
    assert {d["driverId"] for d in page["DriverTable"]["Drivers"]} == champions


def test_status_counts_a_races_results(ergast_api: ApiServer) -> None:
    race = next(
        r["raceId"] for r in read_csv("races.csv") if r["year"] == "2008" and r["round"] == "6"
    )
    names = {r["statusId"]: r["status"] for r in read_csv("status.csv")}
    counts: dict[str, int] = {}
    for r in read_csv("results.csv"):
        if r["raceId"] == race:
            counts[r["statusId"]] = counts.get(r["statusId"], 0) + 1
    page = get(ergast_api, "2008/6/status")
    assert [(s["statusId"], s["count"], s["status"]) for s in page["StatusTable"]["Status"]] == [
        (k, str(v), names[k]) for k, v in sorted(counts.items(), key=lambda kv: int(kv[0]))
    ]


def test_current_and_last_resolve_to_the_latest_race_with_results(ergast_api: ApiServer) -> None:
    season = max(int(r["year"]) for r in read_csv("races.csv"))
    page = get(ergast_api, "current/last/results.json")
    table = page["RaceTable"]
    assert table["season"] == str(season)
    assert table["Races"][0]["round"] == table["round"]
    assert get(ergast_api, "current/next/results")["total"] == "0"


def test_the_limit_is_cut_to_1000(ergast_api: ApiServer) -> None:
    page = get(ergast_api, "results.json", limit=5000)
    assert page["limit"] == "1000"
    assert sum(len(r["Results"]) for r in page["RaceTable"]["Races"]) == 1000


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("2023/teams.json", 404),
        ("2023/1/grid/1", 404),
        ("laps.json", 400),
        ("2023/1/qualifying/grid/1/x", 404),
    ],
)
def test_bad_paths_are_problem_documents(ergast_api: ApiServer, path: str, status: int) -> None:
    with ergast_api.client() as client:
        answer = client.get(f"/ergast/f1/{path}")
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == status


def test_the_route_documents_its_grammar_and_an_example(ergast_api: ApiServer) -> None:
    with ergast_api.client() as client:
        spec = client.get("/openapi.json").json()
    route = spec["paths"]["/ergast/f1/{path}"]["get"]
    assert "filters, in any order" in route["description"]
    assert (
        "StandingsTable"
        in route["responses"]["200"]["content"]["application/json"]["example"]["MRData"]
    )
