"""The cache in front of the query engine: read-through execution, warming and pre-fetching."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import QueryCache
from .core import CacheResult, QueryRef
from .predict import QueryPredictor
from .warming import ComputeSpec, Prefetcher, RefOf, load_predictor

if TYPE_CHECKING:
    from p3_query.engine import Engine, QueryResult


def spec_computer(engine: Engine) -> ComputeSpec:
    """Answer a stored (normalised) spec JSON with ``engine``: what warming and pre-fetch call."""
    from p3_query.spec import QuerySpec

    def compute(spec_json: str) -> bytes:
        return engine.execute(QuerySpec.model_validate_json(spec_json)).to_payload()

    return compute


def ref_maker(engine: Engine) -> RefOf:
    """Turn a spec document into a cache reference, or None if it is not a valid question."""
    from p3_query.spec import QuerySpec

    def ref_of(document: dict[str, Any]) -> QueryRef | None:
        try:
            return QueryRef.of(engine.normalise(QuerySpec.model_validate(document)))
        except ValueError:  # pydantic ValidationError and SpecError are both ValueErrors
            return None

    return ref_of


@contextmanager
def snapshot_computer(snapshot: Path) -> Iterator[ComputeSpec]:
    """A ``ComputeSpec`` over the published snapshot at ``snapshot``, closed afterwards."""
    from p3_query.engine import Engine

    engine = Engine(snapshot)
    try:
        yield spec_computer(engine)
    finally:
        close = getattr(engine, "close", None)
        if callable(close):
            close()


@dataclass(frozen=True)
class CachedAnswer:
    """An engine result and how the cache served it."""

    result: QueryResult
    cache: CacheResult


class CachedEngine:
    """``Engine.execute`` behind the cache: hits from ``p3:current``, misses computed and stored.

    Specs are normalised first (refs resolved to ids), so "ferrari" and 6 share one entry. With a
    trained predictor, the likely next queries are pre-fetched in the background after each answer.
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
            predictor = load_predictor(cache)
        self.prefetcher = (
            Prefetcher(
                cache,
                predictor,
                spec_computer(engine),
                ref_maker(engine),
                k=prefetch_k,
                background=background,
            )
            if prefetch and predictor is not None
            else None
        )

    def execute(self, spec: Any, *, session: str | None = None) -> QueryResult:
        """The engine's answer to ``spec`` (a ``QuerySpec``), from the cache when possible."""
        return self.execute_with_info(spec, session=session).result

    def execute_with_info(self, spec: Any, *, session: str | None = None) -> CachedAnswer:
        """Like :meth:`execute`, also saying whether it was a hit and from which build."""
        from p3_query.engine import QueryResult

        normalised = self.engine.normalise(spec)
        ref = QueryRef.of(normalised)
        served = self.cache.get_or_compute(
            ref,
            lambda: self.engine.execute(normalised).to_payload(),
            build_id=self.engine.build_id,
            session=session,
        )
        if self.prefetcher is not None:
            self.prefetcher.after(ref, served.build_id)
        return CachedAnswer(QueryResult.from_payload(served.payload), served)

    def close(self) -> None:
        """Stop pre-fetching and flush the cache's statistics."""
        if self.prefetcher is not None:
            self.prefetcher.close()
        self.cache.flush()
