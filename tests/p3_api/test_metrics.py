"""``/metrics``: Prometheus samples summed over every worker process of a real server."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.snapshots import PublishedSnapshot

from .conftest import ApiServer


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def test_requests_of_every_worker_are_counted_by_route_template_and_status(
    api: ApiServer, snapshot: PublishedSnapshot
) -> None:
    with api.client() as client:
        before = client.get("/metrics").text
        # New connections each time, so both workers take a share of the requests.
        for season in (2020, 2021, 2022, 2023, 2024) * 6:
            with api.client() as fresh:
                assert fresh.get("/v1/races", params={"season": season}).status_code == 200
        for _ in range(3):
            with api.client() as fresh:
                assert fresh.get("/v1/races", params={"limit": 0}).status_code == 422
        after = client.get("/metrics").text

    def count(text: str, status: str) -> float:
        return sum(
            value
            for labels, value in samples(text, "p3_api_requests_total")
            if labels == {"route": "/v1/races", "method": "GET", "status": status}
        )

    assert count(after, "200") - count(before, "200") == 30
    assert count(after, "422") - count(before, "422") == 3
    latency = [
        value
        for labels, value in samples(after, "p3_api_request_seconds_count")
        if labels == {"route": "/v1/races", "method": "GET"}
    ]
    assert sum(latency) >= 33
    build = snapshot.query("select build_id from p3_meta.build")[0][0]
    served = [
        labels["build_id"]
        for labels, value in samples(after, "p3_api_snapshot_build_info")
        if value == 1
    ]
    assert served == [build]
    published = samples(after, "p3_api_snapshot_published_timestamp_seconds")
    assert published and published[0][1] > 1_600_000_000
