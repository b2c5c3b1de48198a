"""The cache in front of the real engine, and the ``serving/query_cache`` asset on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p3_dagster.defs.serving.cache import CACHE_KEY, build_cache_asset
from p3_dagster.lib.cache_resource import CacheResource
from p3_dagster.lib.resources import PublishedSnapshotResource
from p3_query.cache import QueryCache
from p3_query.cache.engine_adapter import CachedEngine
from p3_query.engine import Engine
from p3_query.spec import QuerySpec
from tests.dbt.conftest import build_graph, explicit_settings

pytestmark = pytest.mark.slow


def session_specs(a: int, b: int) -> list[dict[str, object]]:
    """An analyst's session about constructor ``a``, ending in a comparison with ``b``."""
    return [
        {"entity": "constructor", "ids": [a], "metrics": ["wins", "podiums"], "group_by": ["season"]},
        {"entity": "constructor", "ids": [a], "metrics": ["points"], "group_by": ["season"],
         "statistics": ["mean", "trend"]},
        {"entity": "constructor", "ids": [a, b], "metrics": ["points", "wins"],
         "group_by": ["season", "entity"], "compare": True},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A snapshot published by the whole graph on two seasons of the demo championship."""
    settings = explicit_settings(tmp_path_factory.mktemp("cache_asset"), seasons=(2023, 2024))
    build_graph(settings)  # other domains (ML) may need more seasons; only the snapshot matters
    assert settings.serving_duckdb_path is not None and settings.serving_duckdb_path.exists()
    yield settings.serving_duckdb_path


@pytest.fixture(scope="module")
def session(published: Path) -> list[dict[str, object]]:
    with duckdb.connect(str(published), read_only=True) as con:
        a, b = (r[0] for r in con.execute(
            "select constructor_id from marts.dim_constructors order by 1 limit 2"
        ).fetchall())  # fmt: skip
    return session_specs(a, b)


@pytest.fixture
def store(backend: str, redis_url: str, tmp_path: Path) -> Iterator[CacheResource]:
    resource = CacheResource(
        redis_url=redis_url if backend == "redis" else None,
        cache_dir=str(tmp_path / "cache"),
        prefix=f"asset{tmp_path.name[-8:].replace('_', '')}",
        warm_budget=10,
    )
    yield resource
    if backend == "redis":
        with resource.open() as cache:
            cache.clear()


def materialize(store: CacheResource, published: Path) -> dg.AssetMaterialization:
    result = dg.materialize(
        [build_cache_asset()],
        resources={"cache": store, "snapshot": PublishedSnapshotResource(path=str(published))},
    )
    assert result.success
    return result.asset_materializations_for_node("serving__query_cache")[0]


def analyst_sessions(
    cache: QueryCache, published: Path, session: list[dict[str, object]], sessions: int = 3
) -> None:
    engine = Engine(published)
    cached = CachedEngine(engine, cache, prefetch=False)
    for s in range(sessions):
        for document in session:
            cached.execute(QuerySpec.model_validate(document), session=f"s{s}")
    cached.close()
    engine.close()


def test_the_cached_engine_answers_like_the_engine_and_hits_the_second_time(
    store: CacheResource, published: Path, session: list[dict[str, object]]
) -> None:
    engine = Engine(published)
    with store.open() as cache:
        cached = CachedEngine(engine, cache, prefetch=False)
        spec = QuerySpec.model_validate(session[2])
        first = cached.execute_with_info(spec)
        second = cached.execute_with_info(spec)
        with duckdb.connect(str(published), read_only=True) as con:
            refs = con.execute(
                "select constructor_ref from marts.dim_constructors where constructor_id in (?, ?)",
                list(spec.ids),
            ).fetchall()
        by_ref = QuerySpec.model_validate(session[2] | {"ids": [r[0] for r in refs]})
        again_by_id = cached.execute_with_info(by_ref)  # refs resolve to the same entry
        cached.close()
    assert (first.cache.hit, second.cache.hit, again_by_id.cache.hit) == (False, True, True)
    assert second.result.tables == first.result.tables == engine.execute(spec).tables
    assert second.cache.build_id == engine.build_id
    engine.close()


def test_the_asset_warms_the_hot_set_and_flips_current_with_analytics(
    store: CacheResource, published: Path, session: list[dict[str, object]]
) -> None:
    first = materialize(store, published)  # empty log: nothing to warm, but the flip happens
    engine = Engine(published)
    build = engine.build_id
    assert first.metadata["build_id"].value == build
    assert first.metadata["warmed"].value == 0
    with store.open() as cache:
        assert cache.current_build() == build
        analyst_sessions(cache, published, session)
        cache.clear(build)  # keep the log, drop the answers: warming must recompute them
    second = materialize(store, published)
    meta = {k: v.value for k, v in second.metadata.items()}
    assert meta["warmed"] == len(session) and meta["warm_failed"] == 0
    assert meta["backend"] == store.backend and meta["calendar_phase"]
    assert (
        meta["hits"] == 6
        and meta["misses"] == 3
        and meta["hit_ratio"] == pytest.approx(2 / 3, abs=1e-4)
    )
    assert meta["model"]["sessions"] == 3 and meta["model"]["query_transitions"] == 2
    assert len(meta["hottest"]) == 3 and meta["most_expensive"][0]["max_cost_ms"] > 0
    assert {"hit", "miss"} <= set(meta["latency_ms"]) and meta["memory_bytes"] > 0
    with store.open() as cache:
        cached = CachedEngine(engine, cache, prefetch=False)
        answers = [cached.execute_with_info(QuerySpec.model_validate(d)) for d in session]
        cached.close()
    assert all(a.cache.hit and a.cache.origin == "warm" for a in answers)
    engine.close()


def test_the_asset_fails_clearly_without_a_snapshot(tmp_path: Path) -> None:
    resource = CacheResource(cache_dir=str(tmp_path / "cache"))
    result = dg.materialize(
        [build_cache_asset()],
        resources={
            "cache": resource,
            "snapshot": PublishedSnapshotResource(path=str(tmp_path / "none.duckdb")),
        },
        raise_on_error=False,
    )
    assert not result.success
    assert CACHE_KEY == dg.AssetKey(["serving", "query_cache"])
