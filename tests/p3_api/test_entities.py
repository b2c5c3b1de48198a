"""``/v1/<entities>``: search and paging over the published dims, checked against the snapshot."""

from __future__ import annotations

import pytest

from tests.fixtures.snapshots import PublishedSnapshot

from .conftest import ApiServer


def test_a_driver_search_pages_through_every_match_once(
    api: ApiServer, snapshot: PublishedSnapshot
) -> None:
    expected = {
        row[0]
        for row in snapshot.query(
            "select driver_id from marts.dim_drivers where full_name ilike '%an%' "
            "or driver_ref ilike '%an%' or driver_code ilike '%an%' or nationality ilike '%an%'"
        )
    }
    seen: list[int] = []
    with api.client() as client:
        offset = 0
        while True:
            page = client.get("/v1/drivers", params={"q": "AN", "limit": 7, "offset": offset})
            assert page.status_code == 200, page.text
            body = page.json()
            assert body["total"] == len(expected)
            seen += [item["driver_id"] for item in body["items"]]
            offset += 7
            if offset >= body["total"]:
                break
    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))


def test_races_of_one_season_in_round_order(api: ApiServer, snapshot: PublishedSnapshot) -> None:
    season = snapshot.query("select max(season) from marts.dim_races")[0][0]
    rounds = [
        r[0]
        for r in snapshot.query(
            "select round from marts.dim_races where season = ? order by round", [season]
        )
    ]
    with api.client() as client:
        body = client.get("/v1/races", params={"season": season, "limit": 100}).json()
    assert [item["round"] for item in body["items"]] == rounds
    assert all(item["season"] == season for item in body["items"])


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/drivers", {"limit": 0}, "limit"),
        ("/v1/drivers", {"limit": 5000}, "limit"),
        ("/v1/drivers", {"offset": -1}, "offset"),
        ("/v1/drivers", {"season": 2020}, "season"),
        ("/v1/seasons", {"q": "x"}, "q"),
        ("/v1/circuits", {"q": "x" * 101}, "q"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(
    api: ApiServer, path: str, params: dict, field: str
) -> None:
    with api.client() as client:
        response = client.get(path, params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.json()["detail"]


def test_search_text_is_a_bound_value_not_sql(api: ApiServer) -> None:
    with api.client() as client:
        response = client.get("/v1/constructors", params={"q": "x' or 1=1 --"})
    assert response.status_code == 200 and response.json()["total"] == 0


def test_lists_carry_an_etag_and_a_shared_cache_lifetime(api: ApiServer) -> None:
    with api.client() as client:
        first = client.get("/v1/circuits", params={"limit": 3})
        again = client.get(
            "/v1/circuits", params={"limit": 3}, headers={"If-None-Match": first.headers["etag"]}
        )
        other = client.get("/v1/circuits", params={"limit": 4})
    assert first.headers["cache-control"] == "public, max-age=15"
    assert again.status_code == 304 and again.content == b""
    assert other.headers["etag"] != first.headers["etag"]
