"""The cache in front of the query engine: read-through execution, warming and pre-fetching."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from p3_query.spec import QuerySpec

from .base import CacheUnavailable, QueryCache
from .core import CacheResult, Computed, QueryRef
from .predict import QueryPredictor
from .warming import ComputeSpec, Prefetcher, load_predictor

if TYPE_CHECKING:
    from p3_query.engine import Engine, QueryResult


class BuildChanged(RuntimeError):
    """The snapshot was republished while a build was being warmed."""


def spec_computer(engine: Engine, *, expect_build: str | None = None) -> ComputeSpec:
    """Answer a stored (normalised) spec JSON with ``engine``: what warming and pre-fetch call.

    With ``expect_build``, an answer computed on any other build raises ``BuildChanged`` instead
    of being stored under the wrong build.
    """

    def compute(spec_json: str) -> bytes:
        result = engine.execute(QuerySpec.model_validate_json(spec_json))
        if expect_build is not None and result.build_id != expect_build:
            raise BuildChanged(f"expected build {expect_build}, the snapshot is {result.build_id}")
        return result.to_payload()

    return compute


@contextmanager
def snapshot_computer(snapshot: Path, build_id: str | None = None) -> Iterator[ComputeSpec]:
    """A ``ComputeSpec`` over the published snapshot at ``snapshot`` (of ``build_id``), closed after."""
    from p3_query.engine import Engine

    engine = Engine(snapshot)
    try:
        yield spec_computer(engine, expect_build=build_id)
    finally:
        engine.close()


@dataclass(frozen=True)
class CachedAnswer:
    """An engine result and how the cache served it."""

    result: QueryResult
    cache: CacheResult


class CachedEngine:
    """``Engine.execute`` behind the cache: hits from ``p3:current``, misses computed and stored.

    Specs are normalised first (refs resolved to ids), so "ferrari" and 6 share one entry. Each
    query takes one engine lease: its refs are resolved, its build id read and (on a miss) its
    answer computed on the same build, so a publish in between cannot mix builds. With a trained
    predictor, the likely next queries are pre-fetched in the background after each answer.
    """

    def __init__(
        self,
        engine: Engine,
        cache: QueryCache,
        *,
        predictor: QueryPredictor | None = None,
        prefetch: bool = True,
        background: bool = True,
        prefetch_k: int = 3,
    ) -> None:
        self.engine = engine
        self.cache = cache
        if predictor is None and prefetch:
            try:
                predictor = load_predictor(cache)
            except CacheUnavailable as exc:
                # Queries still work (answered from the snapshot, see get_or_compute); only
                # pre-fetching is off for this engine's lifetime.
                cache.report_unavailable(exc)
        self.prefetcher = (
            Prefetcher(
                cache,
                predictor,
                spec_computer(engine),
                normalise=engine.normalise,
                k=prefetch_k,
                background=background,
            )
            if prefetch and predictor is not None
            else None
        )

    def execute(self, spec: QuerySpec, *, session: str | None = None) -> QueryResult:
        """The engine's answer to ``spec``, from the cache when possible."""
        return self.execute_with_info(spec, session=session).result

    def execute_with_info(self, spec: QuerySpec, *, session: str | None = None) -> CachedAnswer:
        """Like :meth:`execute`, also saying whether it was a hit and from which build."""
        from p3_query.engine import QueryResult

        with self.engine.lease() as lease:
            normalised = lease.normalise(spec)  # SpecError for unknown refs, before the cache
            ref = QueryRef.of(normalised)

            def compute() -> Computed:
                result = lease.execute(normalised)
                return Computed(result.to_payload(), result)

            served = self.cache.get_or_compute(
                ref, compute, build_id=lease.build_id, session=session
            )
        if self.prefetcher is not None:
            self.prefetcher.after(ref, served.build_id)
        # A miss hands back the result it just computed; only a hit decodes the payload.
        result = (
            served.value if served.value is not None else QueryResult.from_payload(served.payload)
        )
        return CachedAnswer(result, served)

    def close(self) -> None:
        """Stop pre-fetching and flush the cache's statistics."""
        if self.prefetcher is not None:
            self.prefetcher.close()
        self.cache.flush()
