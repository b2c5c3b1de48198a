"""Behind a reverse proxy, anonymous limits count each client by the address the trusted proxy
forwards (X-Forwarded-For); from anyone else, that header is ignored."""

from __future__ import annotations

import httpx

from tests.fixtures.snapshots import PublishedSnapshot

from ..conftest import StartApi

PATH = "/ergast/f1/seasons.json"


def statuses(base_url: str, forwarded_for: str, times: int) -> list[int]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        return [
            client.get(PATH, headers={"X-Forwarded-For": forwarded_for}).status_code
            for _ in range(times)
        ]


def test_a_trusted_proxy_gives_each_client_behind_it_its_own_anonymous_limit(
    start_api: StartApi, snapshot: PublishedSnapshot
) -> None:
    server = start_api(
        snapshot.path,
        workers=1,
        P3_API_RATE_ANONYMOUS="2/minute",
        P3_API_FORWARDED_ALLOW_IPS="127.0.0.1",
    )
    assert statuses(server.base_url, "203.0.113.7", 3) == [200, 200, 429]
    assert statuses(server.base_url, "198.51.100.9", 2) == [200, 200]


def test_without_a_trusted_proxy_the_forwarded_address_is_ignored(
    start_api: StartApi, snapshot: PublishedSnapshot
) -> None:
    server = start_api(snapshot.path, workers=1, P3_API_RATE_ANONYMOUS="2/minute")
    assert statuses(server.base_url, "203.0.113.7", 2) == [200, 200]
    # A forged header does not buy a new allowance: it is the same peer.
    assert statuses(server.base_url, "198.51.100.9", 1) == [429]
