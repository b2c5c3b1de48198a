"""One engine lease per cached query: a publish in the middle of a query cannot mix two builds.

``CachedEngine`` used to resolve refs on one lease, read the build id on a second and execute on a
third; a snapshot republished in between answered "ferrari" with the id it had on the old build,
computed on the new one. Build B here swaps the refs of two constructors, so an answer that mixes
builds is visible: its ids are not what the ref means on the build the answer claims.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from p3_query.cache import QueryCache
from p3_query.cache.engine_adapter import CachedEngine
from p3_query.engine import Engine, Lease
from p3_query.spec import QuerySpec
from tests.fixtures.snapshots import PublishedSnapshot

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Builds:
    published: Path
    files: dict[str, Path]  # build id -> its snapshot file
    ids: dict[str, int]  # build id -> the constructor id the asked ref names on that build
    ref: str


def variant(snapshot: Path, target: Path, build_id: str, swap: tuple[int, int] | None) -> Path:
    """A copy of the snapshot with another build id (and, with ``swap``, two refs exchanged)."""
    shutil.copyfile(snapshot, target)
    with duckdb.connect(str(target)) as con:
        con.execute("update p3_meta.build set build_id = ?", [build_id])
        if swap:
            a, b = swap
            con.execute(
                "update marts.dim_constructors set constructor_ref = case constructor_id "
                "when ? then (select constructor_ref from marts.dim_constructors where constructor_id = ?) "
                "when ? then (select constructor_ref from marts.dim_constructors where constructor_id = ?) "
                "end where constructor_id in (?, ?)",
                [a, b, b, a, a, b],
            )
    return target


@pytest.fixture
def builds(snapshot: PublishedSnapshot, tmp_path: Path) -> Builds:
    (a, ref), (b, _) = snapshot.query(
        "select constructor_id, constructor_ref from marts.dim_constructors order by 1 limit 2"
    )
    files = {
        "build-a": variant(snapshot.path, tmp_path / "a.duckdb", "build-a", None),
        "build-b": variant(snapshot.path, tmp_path / "b.duckdb", "build-b", (a, b)),
    }
    published = tmp_path / "serving.duckdb"
    shutil.copyfile(files["build-a"], published)
    return Builds(published, files, {"build-a": a, "build-b": b}, ref)


def publish(source: Path, published: Path) -> None:
    # What the publish step does: write a new file, then rename it over the published one.
    staging = published.with_suffix(".tmp")
    shutil.copyfile(source, staging)
    os.replace(staging, published)


class RepublishAfterLease:
    """Wraps an engine's pool: right after its ``n``-th lease is returned, build B is published."""

    def __init__(self, engine: Engine, n: int, builds: Builds) -> None:
        self.leases = 0
        self.published = False
        self.builds = builds
        lease = engine.pool.lease

        @contextmanager
        def counted() -> Iterator[Lease]:
            with lease() as taken:
                yield taken
            self.leases += 1
            if self.leases == n:
                self.publish()

        engine.pool.lease = counted  # type: ignore[method-assign]

    def publish(self) -> None:
        """Publish build B (once): during the query if it took ``n`` leases, else after it."""
        if not self.published:
            self.published = True
            publish(self.builds.files["build-b"], self.builds.published)


@pytest.mark.parametrize("after_lease", [1, 2])
def test_a_publish_during_a_cached_query_cannot_store_an_answer_under_the_wrong_build(
    builds: Builds, cache: QueryCache, after_lease: int
) -> None:
    spec = QuerySpec.model_validate(
        {"entity": "constructor", "ids": [builds.ref], "metrics": ["wins"], "group_by": ["season"]}
    )
    engine = Engine(builds.published)
    cached = CachedEngine(engine, cache, prefetch=False)
    probe = RepublishAfterLease(engine, after_lease, builds)

    answer = cached.execute_with_info(spec)

    build = answer.result.build_id
    assert answer.cache.build_id == build  # stored under the build it was computed on
    # The ref was resolved on the same build the answer came from, and the stored payload is
    # exactly what that build answers.
    assert answer.result.spec.ids == (builds.ids[build],)
    fresh = Engine(builds.files[build])
    assert fresh.execute(spec).tables == answer.result.tables
    assert cache.cached_hashes(build, [answer.result.query_hash]) == {answer.result.query_hash}
    assert probe.leases == 1  # resolve, build id and execution on one lease
    # Once B is published, the next query resolves the ref on build B and is stored there.
    probe.publish()
    after = cached.execute_with_info(spec)
    assert (after.result.build_id, after.cache.build_id) == ("build-b", "build-b")
    assert after.result.spec.ids == (builds.ids["build-b"],)
    assert (after.cache.hit, after.cache.source) == (False, "compute")
    cached.close()
    fresh.close()
    engine.close()


def test_a_hit_takes_one_lease_too(builds: Builds, cache: QueryCache) -> None:
    spec = QuerySpec.model_validate(
        {"entity": "constructor", "ids": [builds.ref], "metrics": ["wins"]}
    )
    engine = Engine(builds.published)
    cached = CachedEngine(engine, cache, prefetch=False)
    miss = cached.execute_with_info(spec)
    probe = RepublishAfterLease(engine, 10**6, builds)  # counts only
    hit = cached.execute_with_info(spec)
    assert (miss.cache.hit, hit.cache.hit, probe.leases) == (False, True, 1)
    assert hit.result.tables == miss.result.tables
    cached.close()
    engine.close()
