"""The cache in front of the real engine, and the sequence-model and cache assets on both backends."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p3_dagster.defs.serving.cache import CACHE_KEY, build_cache_asset
from p3_dagster.defs.serving.sequence_model import SEQUENCE_MODEL_KEY, build_sequence_model_asset
from p3_dagster.lib.cache_resource import CacheResource
from p3_dagster.lib.mlflow_resource import MlflowResource
from p3_dagster.lib.resources import PublishedSnapshotResource
from p3_query.cache import QueryCache
from p3_query.cache.engine_adapter import CachedEngine
from p3_query.cache.predict import QueryPredictor
from p3_query.cache.tracking import EXPERIMENT, MODEL_ARTIFACT
from p3_query.cache.warming import load_predictor
from p3_query.engine import Engine
from p3_query.spec import QuerySpec
from tests.fixtures.snapshots import PublishedSnapshot

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_manifest")]


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
def published(snapshot: PublishedSnapshot) -> Path:
    """The session's published snapshot (tests/p3_query/conftest.py): real history or demo."""
    return snapshot.path


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


@pytest.fixture
def mlflow_store(tmp_path: Path) -> MlflowResource:
    return MlflowResource(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}",
        artifacts_dir=str(tmp_path / "mlflow" / "artifacts"),
    )


def materialize(
    store: CacheResource, published: Path, mlflow_store: MlflowResource
) -> tuple[dg.AssetMaterialization, dg.AssetMaterialization]:
    """The sequence model, then the cache: what a publish triggers. Both materialisations."""
    result = dg.materialize(
        [build_sequence_model_asset(), build_cache_asset()],
        resources={
            "cache": store,
            "snapshot": PublishedSnapshotResource(path=str(published)),
            "mlflow": mlflow_store,
        },
    )
    assert result.success
    return (
        result.asset_materializations_for_node("serving__query_sequence_model")[0],
        result.asset_materializations_for_node("serving__query_cache")[0],
    )


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
    store: CacheResource,
    published: Path,
    session: list[dict[str, object]],
    mlflow_store: MlflowResource,
) -> None:
    # Empty log: nothing to warm, but the flip happens.
    _, first = materialize(store, published, mlflow_store)
    engine = Engine(published)
    build = engine.build_id
    assert first.metadata["build_id"].value == build
    assert first.metadata["warmed"].value == 0
    with store.open() as cache:
        assert cache.current_build() == build
        analyst_sessions(cache, published, session)
        cache.clear(build)  # keep the log, drop the answers: warming must recompute them
    model_materialization, second = materialize(store, published, mlflow_store)
    meta = {k: v.value for k, v in second.metadata.items()}
    assert meta["warmed"] == len(session) and meta["warm_failed"] == 0
    assert meta["backend"] == store.backend and meta["calendar_phase"]
    assert (
        meta["hits"] == 6
        and meta["misses"] == 3
        and meta["hit_ratio"] == pytest.approx(2 / 3, abs=1e-4)
    )
    assert meta["model"]["sessions"] == 3 and meta["model"]["query_transitions"] == 2
    # The model the cache warmed with is the one the sequence-model asset tracked in MLflow.
    assert meta["model"]["mlflow_run_id"] == model_materialization.metadata["mlflow_run_id"].value
    assert len(meta["hottest"]) == 3 and meta["most_expensive"][0]["max_cost_ms"] > 0
    assert {"hit", "miss"} <= set(meta["latency_ms"]) and meta["memory_bytes"] > 0
    with store.open() as cache:
        cached = CachedEngine(engine, cache, prefetch=False)
        answers = [cached.execute_with_info(QuerySpec.model_validate(d)) for d in session]
        cached.close()
    assert all(a.cache.hit and a.cache.origin == "warm" for a in answers)
    engine.close()


def test_the_asset_fails_clearly_without_a_snapshot(tmp_path: Path) -> None:
    resource = CacheResource(redis_url=None, cache_dir=str(tmp_path / "cache"))
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


def test_the_sequence_model_is_tracked_in_mlflow_and_stored_for_the_cache(
    store: CacheResource,
    published: Path,
    session: list[dict[str, object]],
    mlflow_store: MlflowResource,
) -> None:
    from mlflow import MlflowClient

    with store.open() as cache:
        cache.flip(Engine(published).build_id)
        analyst_sessions(cache, published, session, sessions=5)
    materialization, _ = materialize(store, published, mlflow_store)
    meta = {k: v.value for k, v in materialization.metadata.items()}
    client = MlflowClient(tracking_uri=mlflow_store.tracking_uri)
    run = client.get_run(meta["mlflow_run_id"])
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert run.data.tags["dagster/asset"] == SEQUENCE_MODEL_KEY.to_user_string()
    # 5 sessions of 3 queries: 15 events, 2 distinct transitions, evaluated on the newest 20%.
    assert run.data.metrics["trained_on_events"] == 15 and run.data.metrics["sessions"] == 5
    assert run.data.metrics["eval/test_events"] == 3
    assert run.data.metrics["eval/next_query_top3"] == 1.0  # the sessions always repeat
    assert run.data.params["session_gap_s"] == "1800.0"
    assert float(run.data.params["phase_weight"]) == meta["phase_weight"]
    stored = QueryPredictor.from_json(
        Path(client.download_artifacts(run.info.run_id, MODEL_ARTIFACT)).read_text()
    )
    with store.open() as cache:
        served = load_predictor(cache)
    assert served is not None and served.mlflow_run_id == run.info.run_id
    assert stored.transitions == served.transitions and len(stored.transitions) == 2
    assert meta["query_transitions"] == 2 and meta["evaluation"]["test_steps"] == 2


def test_with_redis_down_the_model_and_cache_steps_warn_and_succeed(
    published: Path, mlflow_store: MlflowResource, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = CacheResource(
        redis_url=f"redis://127.0.0.1:{port}/0", cache_dir=str(tmp_path / "cache"), warm_budget=5
    )
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [build_sequence_model_asset(), build_cache_asset()],
        resources={
            "cache": down,
            "snapshot": PublishedSnapshotResource(path=str(published)),
            "mlflow": mlflow_store,
        },
        instance=instance,
        raise_on_error=False,
    )
    assert result.success, [
        e.event_specific_data for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    ]
    model = result.asset_materializations_for_node("serving__query_sequence_model")[0]
    cache = result.asset_materializations_for_node("serving__query_cache")[0]
    assert model.metadata["cache_unavailable"].value is True
    assert cache.metadata["cache_unavailable"].value is True
    assert cache.metadata["warmed"].value == 0
    warnings = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level == logging.WARNING and e.step_key == "serving__query_sequence_model"
    ]
    assert len(warnings) == 1 and warnings[0].startswith(
        "redis cache unavailable (redis://127.0.0.1:"
    )
    assert "not retrained this run" in warnings[0]
