"""The engine: a pool of read-only connections that follows the published file, thread-safe."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import duckdb
import pytest

from p3_common.snapshot import SnapshotMissing
from p3_query.engine import Engine
from p3_query.result import QueryResult
from p3_query.spec import SpecError, validate_spec
from tests.fixtures.snapshots import PublishedSnapshot

pytestmark = pytest.mark.slow

# The best single season: every (season, driver) row shifts by the same amount in build B.
WINS = validate_spec(
    {
        "entity": "driver",
        "metrics": ["wins"],
        "group_by": ["season", "entity"],
        "order_by": ["-wins"],
        "limit": 3,
    }
)


def variant(snapshot: PublishedSnapshot, target: Path, build_id: str, extra_wins: int) -> Path:
    """A copy of the snapshot with another build id and every driver's wins shifted."""
    shutil.copyfile(snapshot.path, target)
    with duckdb.connect(str(target)) as con:
        con.execute("update p3_meta.build set build_id = ?", [build_id])
        con.execute("update marts.mart_driver_season set wins = wins + ?", [extra_wins])
    return target


@pytest.fixture
def builds(snapshot: PublishedSnapshot, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(published path holding build A, build A file, build B file)."""
    a = variant(snapshot, tmp_path / "a.duckdb", "build-a", 0)
    b = variant(snapshot, tmp_path / "b.duckdb", "build-b", 1000)
    published = tmp_path / "serving.duckdb"
    shutil.copyfile(a, published)
    return published, a, b


def publish(source: Path, published: Path) -> None:
    # What the publish step does: write a new file, then rename it over the published one.
    staging = published.with_suffix(".tmp")
    shutil.copyfile(source, staging)
    os.replace(staging, published)


def top_wins(result: QueryResult) -> int:
    return result.tables["rows"].records()[0]["wins"]


def test_the_engine_reopens_when_the_snapshot_is_replaced(builds: tuple[Path, Path, Path]) -> None:
    published, _, b = builds
    engine = Engine(published)
    first = engine.execute(WINS)
    assert first.build_id == "build-a"
    publish(b, published)
    second = engine.execute(WINS)
    assert second.build_id == "build-b" and engine.build_id == "build-b"
    assert top_wins(second) == top_wins(first) + 1000
    assert engine.pool.opened == 2
    engine.execute(WINS)
    assert engine.pool.opened == 2  # same file: connections reused
    engine.close()


def test_the_open_build_is_named_only_while_it_is_still_the_published_file(
    builds: tuple[Path, Path, Path],
) -> None:
    published, _, b = builds
    engine = Engine(published)
    assert engine.open_build_id() is None  # nothing opened yet
    assert engine.build_id == "build-a"
    assert engine.open_build_id() == "build-a"
    publish(b, published)
    assert engine.open_build_id() is None  # another file now: a lease must open it
    assert engine.build_id == "build-b"
    assert engine.open_build_id() == "build-b"
    published.unlink()
    assert engine.open_build_id() is None
    engine.close()


def test_a_lease_taken_before_a_publish_finishes_on_its_own_build(
    builds: tuple[Path, Path, Path],
) -> None:
    published, _, b = builds
    engine = Engine(published)
    with engine.pool.lease() as lease:
        publish(b, published)
        assert engine.build_id == "build-b"  # new leases see the new file
        build, wins = lease.cursor.execute(
            "select (select build_id from p3_meta.build), max(wins) from marts.mart_driver_season"
        ).fetchone()
        assert build == "build-a" and wins < 1000
    engine.close()


def test_concurrent_queries_during_publishes_each_see_exactly_one_build(
    builds: tuple[Path, Path, Path],
) -> None:
    published, a, b = builds
    engine = Engine(published, pool_size=3)
    expected = {"build-a": top_wins(engine.execute(WINS))}
    expected["build-b"] = expected["build-a"] + 1000
    results: list[QueryResult] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                results.append(engine.execute(WINS))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for t in threads:
        t.start()
    for source in [b, a, b, a, b]:
        publish(source, published)
        threading.Event().wait(0.1)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) >= 10
    assert {r.build_id for r in results} == {"build-a", "build-b"}
    for result in results:
        assert top_wins(result) == expected[result.build_id]
    engine.close()


def test_a_missing_snapshot_is_reported_not_crashed(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "nothing.duckdb")
    with pytest.raises(SnapshotMissing, match="no published snapshot at .*p3 materialize"):
        engine.execute(WINS)


def test_results_round_trip_through_the_cache_payload(snapshot: PublishedSnapshot) -> None:
    engine = Engine(snapshot.path)
    ids = [
        r[0] for r in snapshot.query("select constructor_id from marts.dim_constructors limit 2")
    ]
    result = engine.execute(
        validate_spec(
            {
                "entity": "constructor",
                "ids": ids,
                "metrics": ["points", "dnf_rate", "head_to_head"],
                "group_by": ["season", "entity"],
                "statistics": ["mean", "trend"],
                "compare": True,
            }
        )
    )
    assert set(result.tables) == {"rows", "statistics", "comparison"}
    payload = result.to_payload()
    assert isinstance(payload, bytes)
    assert QueryResult.from_payload(payload) == result
    assert result.query_hash == engine.normalise(result.spec).query_hash
    assert set(result.timings_ms) == {"plan", "sql", "analysis", "total"}
    engine.close()


def test_normalise_resolves_refs_so_spellings_share_a_cache_key(
    snapshot: PublishedSnapshot,
) -> None:
    engine = Engine(snapshot.path)
    ((driver_id, ref),) = snapshot.query(
        "select driver_id, driver_ref from marts.dim_drivers limit 1"
    )
    by_ref = validate_spec({"entity": "driver", "ids": [ref.upper()], "metrics": ["wins"]})
    by_id = validate_spec({"entity": "driver", "ids": [driver_id], "metrics": ["wins"]})
    assert by_ref.query_hash != by_id.query_hash
    assert engine.normalise(by_ref).query_hash == engine.normalise(by_id).query_hash
    assert engine.execute(by_ref).query_hash == engine.execute(by_id).query_hash
    with pytest.raises(SpecError, match="unknown driver"):
        engine.execute(
            validate_spec({"entity": "driver", "ids": ["no_such_driver"], "metrics": ["wins"]})
        )
    engine.close()
