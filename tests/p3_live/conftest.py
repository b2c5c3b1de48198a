"""Fixtures for the live tests: the machine's Redis under a per-test key prefix, an own
redis-server (with an append-only file) for restart tests, and stored races."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from p3_live.replay import TimedEvent, load_race
from p3_live.streams import connect
from tests.fixtures.servers import MACHINE_REDIS, REDIS_BINARY, RedisServer, free_port
from tests.fixtures.snapshots import PublishedSnapshot

BRAZIL_2019 = (2019, 20)  # round 21 is Abu Dhabi, where one driver led every lap


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may kill and start again."""
    if REDIS_BINARY is None:
        pytest.skip("redis-server not installed (Debian package redis-server)")
    server = RedisServer(free_port(), tmp_path, append_only=True).start()
    yield server
    server.kill()


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis (tests keep to their own key prefix)."""
    try:
        redis.Redis.from_url(MACHINE_REDIS, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {MACHINE_REDIS}")
    return MACHINE_REDIS


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own on the machine's Redis; its keys are deleted afterwards."""
    name = f"p3test:live:{uuid.uuid4().hex[:12]}"
    yield name
    client = connect(redis_url)
    keys = list(client.scan_iter(f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@dataclass(frozen=True)
class StoredRace:
    """A race of the session snapshot, its events and its facts straight from the marts."""

    season: int
    round: int
    events: list[TimedEvent]
    snapshot: PublishedSnapshot

    def official_order(self) -> list[int]:
        rows = self.snapshot.query(
            "select driver_id from marts.fct_race_results where season = ? and round = ? "
            "order by position_order",
            [self.season, self.round],
        )
        return [driver_id for (driver_id,) in rows]

    def lap_leaders(self) -> list[int]:
        """Who led, each time the lead changed hands on the line (position 1 per lap)."""
        rows = self.snapshot.query(
            "select driver_id from marts.fct_lap_times where season = ? and round = ? "
            "and position = 1 order by lap",
            [self.season, self.round],
        )
        leaders: list[int] = []
        for (driver_id,) in rows:
            if not leaders or leaders[-1] != driver_id:
                leaders.append(driver_id)
        return leaders


@pytest.fixture(scope="session")
def stored_race(snapshot: PublishedSnapshot) -> StoredRace:
    """The 2019 Brazilian GP (real data: the lead changed six times, and a late penalty made
    the official order differ from the order on the road), else the demo's last race with laps."""
    if snapshot.kind == "real":
        season, round = BRAZIL_2019
    else:
        season, round = snapshot.query(
            "select season, round from marts.fct_lap_times order by season desc, round desc limit 1"
        )[0]
    return StoredRace(season, round, load_race(snapshot.path, season, round), snapshot)
