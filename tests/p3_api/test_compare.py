"""``GET /v1/compare/{entity}``: pairwise comparisons over HTTP, checked against the snapshot with
independent SQL, and bad input as 422 problems naming what is wrong."""

from __future__ import annotations

from tests.fixtures.snapshots import PublishedSnapshot

from .conftest import ApiServer


def test_a_comparison_counts_each_drivers_wins_as_the_results_do(
    api: ApiServer, snapshot: PublishedSnapshot
) -> None:
    (season,) = snapshot.query("select max(season) from marts.fct_race_results")[0]
    wins = dict(
        snapshot.query(
            "select d.driver_ref, count(distinct r.race_id) filter (where r.finish_position = 1) "
            "from marts.fct_race_results r join marts.dim_drivers d using (driver_id) "
            "where r.season = ? group by 1 order by 2 desc, 1 limit 3",
            [season],
        )
    )
    refs = list(wins)
    with api.client() as client:
        answer = client.get(
            "/v1/compare/driver",
            params={"ids": ",".join(refs), "seasons": str(season), "metrics": "wins"},
        )
    assert answer.status_code == 200, answer.text
    pairs = answer.json()["comparison"]
    assert len(pairs) == 3  # three drivers, three pairs
    for pair in pairs:
        assert pair["metric"] == "wins" and pair["scope"] == "overall"
        assert pair["a_value"] == wins[pair["a_ref"]] and pair["b_value"] == wins[pair["b_ref"]]
        assert pair["difference"] == pair["a_value"] - pair["b_value"]
        leader = max((pair["a_ref"], pair["b_ref"]), key=wins.__getitem__)
        if pair["difference"]:
            assert pair["ahead"] == leader


def test_per_season_comparisons_cover_each_season(
    api: ApiServer, snapshot: PublishedSnapshot
) -> None:
    last, first = snapshot.query("select max(season), max(season) - 2 from marts.fct_race_results")[
        0
    ]
    refs = [
        ref
        for (ref,) in snapshot.query(
            "select c.constructor_ref from marts.fct_race_results r "
            "join marts.dim_constructors c using (constructor_id) where r.season = ? "
            "group by 1 order by sum(r.points) desc, 1 limit 2",
            [last],
        )
    ]
    with api.client() as client:
        answer = client.get(
            "/v1/compare/constructor",
            params={"ids": ",".join(refs), "seasons": f"{first}-{last}", "per": "season"},
        )
    assert answer.status_code == 200, answer.text
    seasons = {p["season"] for p in answer.json()["comparison"] if p["scope"] == "season"}
    assert seasons == set(range(first, last + 1))


def test_bad_comparisons_are_422_problems_naming_what_is_wrong(api: ApiServer) -> None:
    with api.client() as client:
        one = client.get("/v1/compare/driver", params={"ids": "hamilton"})
        unknown = client.get("/v1/compare/driver", params={"ids": "no_such_driver,nobody_else"})
        metric = client.get("/v1/compare/driver", params={"ids": "a,b", "metrics": "bogus"})
        entity = client.get("/v1/compare/circuit", params={"ids": "monza,spa"})
    assert one.status_code == 422 and "2..8 ids" in one.json()["detail"]
    assert unknown.status_code == 422 and "no_such_driver" in unknown.json()["detail"]
    assert metric.status_code == 422 and "unknown metric 'bogus'" in metric.json()["detail"]
    assert entity.status_code == 422 and "entity" in entity.json()["detail"]
    assert {r.headers["content-type"] for r in (one, unknown, metric, entity)} == {
        "application/problem+json"
    }
