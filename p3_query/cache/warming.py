"""Predictive warming and pre-fetching: what to compute before anyone asks for it."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from p3_query.spec import QuerySpec

from .base import CacheUnavailable, QueryCache
from .calendar import RaceCalendar
from .core import QueryRef, WarmItem, WarmReport, template_of
from .predict import MODEL_NAME, QueryPredictor, instantiate, train_sequence_model

log = logging.getLogger("p3_query.cache")

ComputeSpec = Callable[[str], bytes]  # normalised spec JSON -> answer payload
Normalise = Callable[[QuerySpec], QuerySpec]  # refs resolved to ids (``Engine.normalise``)


@dataclass(frozen=True)
class PlannedQuery:
    """One query chosen for warming, and why."""

    ref: QueryRef
    popularity: int
    score: float
    reason: str  # "predicted" | "popular"


def train_predictor(
    cache: QueryCache,
    calendar: RaceCalendar | None = None,
    *,
    since: float | None = None,
    budget: int = 200,
) -> QueryPredictor:
    """Train the sequence model on the cache's query log (``train_sequence_model``) and store it
    next to the cache; what ``serving/query_sequence_model`` does, minus MLflow."""
    model, _ = train_sequence_model(cache.query_log(since=since), calendar, budget=budget)
    save_predictor(cache, model)
    return model


def save_predictor(cache: QueryCache, model: QueryPredictor) -> None:
    """Store ``model`` next to the cache, where warming and pre-fetching load it from."""
    cache.save_model(MODEL_NAME, model.to_json())


def load_predictor(cache: QueryCache) -> QueryPredictor | None:
    """The stored sequence model, or None if none was trained yet or the cache is unreachable."""
    try:
        text = cache.load_model(MODEL_NAME)
    except CacheUnavailable as exc:
        cache.report_unavailable(exc)  # one warning; warming falls back to the hottest queries
        return None
    return QueryPredictor.from_json(text) if text else None


def plan_hot_set(
    cache: QueryCache,
    predictor: QueryPredictor | None,
    *,
    phase: str | None,
    budget: int,
) -> list[PlannedQuery]:
    """Up to ``budget`` queries to warm: the model's hot set for ``phase``, else the hottest so far.

    Only queries whose spec the cache has seen can be recomputed; the others are skipped.
    """
    if predictor is not None and predictor.trained_on:
        candidates = predictor.hot_set(phase, budget * 2)
        reason = "predicted"
    else:
        candidates = [(s.query_hash, float(s.requests)) for s in cache.stats(top=budget).hottest]
        reason = "popular"
    specs = cache.spec_jsons([h for h, _ in candidates])
    planned = []
    for query_hash, score in candidates:
        spec_json = specs.get(query_hash)
        if not spec_json:
            continue
        template = (predictor.templates.get(query_hash) if predictor else None) or template_of(
            spec_json
        )
        popularity = predictor.popularity_of(query_hash) if predictor else int(score)
        planned.append(
            PlannedQuery(QueryRef(query_hash, template, spec_json), popularity, score, reason)
        )
        if len(planned) >= budget:
            break
    return planned


def warm_build(
    cache: QueryCache,
    build_id: str,
    planned: list[PlannedQuery],
    compute_spec: ComputeSpec,
    *,
    flip: bool = True,
) -> WarmReport:
    """Compute the planned queries against the new build, then atomically flip ``p3:current``."""
    items = [
        WarmItem(p.ref, _computer(compute_spec, p.ref.spec_json), p.popularity) for p in planned
    ]
    return cache.warm(build_id, items, flip=flip)


class Prefetcher:
    """After each answer, pre-compute the queries the analyst is likely to ask next.

    Candidates are the exact successors of the query (Markov transitions between query hashes) and,
    for the long tail, the successor templates filled with the current query's arguments. The work
    runs on one background thread with a bounded queue: prefetching is best effort and must never
    slow down or fail the answer that triggered it.
    """

    def __init__(
        self,
        cache: QueryCache,
        predictor: QueryPredictor,
        compute_spec: ComputeSpec,
        *,
        normalise: Normalise | None = None,
        k: int = 3,
        min_probability: float = 0.15,
        background: bool = True,
        max_pending: int = 64,
    ) -> None:
        self.cache = cache
        self.predictor = predictor
        self.compute_spec = compute_spec
        self.normalise = normalise
        self.k = k
        self.min_probability = min_probability
        self.background = background
        self.computed = 0
        self.dropped = 0
        self._exemplars = _exemplars(predictor)
        self._spec_memo: dict[str, str] = {}
        self._queue: queue.Queue[tuple[QueryRef, str] | None] = queue.Queue(max_pending)
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="p3-prefetch", daemon=True)
            self._thread.start()

    def after(self, ref: QueryRef, build_id: str | None) -> None:
        """Schedule pre-fetching for the successors of ``ref`` (an answered query)."""
        if build_id is None:
            return
        if not self.background:
            self._prefetch(ref, build_id)
            return
        try:
            self._queue.put_nowait((ref, build_id))
        except queue.Full:
            self.dropped += 1

    def drain(self, timeout_s: float = 30.0) -> None:
        """Wait until scheduled pre-fetching is done (tests and benchmarks)."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        """Stop the background thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def candidates(self, ref: QueryRef) -> list[WarmItem]:
        """What to pre-fetch after ``ref``: exact successors, then instantiated template successors."""
        chosen: dict[str, WarmItem] = {}
        exact = self.predictor.successors(ref.query_hash, self.k, self.min_probability)
        known = self._specs([h for h, _ in exact])
        for query_hash, p in exact:
            spec_json = known.get(query_hash)
            if spec_json:
                template = self.predictor.templates.get(query_hash) or template_of(spec_json)
                chosen[query_hash] = self._item(QueryRef(query_hash, template, spec_json), p)
        if not ref.spec_json:
            return list(chosen.values())
        for template, p in self.predictor.template_successors(
            ref.template, self.k, self.min_probability
        ):
            if len(chosen) >= self.k:
                break
            exemplar_hash = self._exemplars.get(template)
            exemplar = self._specs([exemplar_hash]).get(exemplar_hash) if exemplar_hash else None
            document = instantiate(exemplar, ref.spec_json) if exemplar else None
            candidate = self._ref_of(document) if document else None
            if candidate is not None and candidate.query_hash != ref.query_hash:
                chosen.setdefault(candidate.query_hash, self._item(candidate, p))
        return list(chosen.values())[: self.k]

    def _item(self, ref: QueryRef, probability: float) -> WarmItem:
        return WarmItem(
            ref,
            _computer(self.compute_spec, ref.spec_json),
            self.predictor.popularity_of(ref.query_hash),
        )

    def _ref_of(self, document: dict[str, object]) -> QueryRef | None:
        """The reference of a candidate spec document, or None if it is not a valid question."""
        try:
            spec = QuerySpec.model_validate(document)
            return QueryRef.of(self.normalise(spec) if self.normalise else spec)
        except ValueError:  # pydantic ValidationError and SpecError are both ValueErrors
            return None

    def _specs(self, hashes: list[str]) -> dict[str, str]:
        missing = [h for h in hashes if h not in self._spec_memo]
        if missing:
            self._spec_memo.update(self.cache.spec_jsons(missing))
        return {h: self._spec_memo[h] for h in hashes if h in self._spec_memo}

    def _prefetch(self, ref: QueryRef, build_id: str) -> None:
        try:
            self.computed += self.cache.prefetch(self.candidates(ref), build_id=build_id)
        except Exception as exc:  # best effort: a failed prefetch is a future miss, not an error
            log.debug("prefetch after %s failed: %s", ref.query_hash, exc)

    def _run(self) -> None:
        while True:
            task = self._queue.get()
            try:
                if task is None:
                    return
                self._prefetch(*task)
            finally:
                self._queue.task_done()


def _computer(compute_spec: ComputeSpec, spec_json: str) -> Callable[[], bytes]:
    """``compute_spec`` bound to one spec (a closure per item, not a loop variable's lambda)."""
    return lambda: compute_spec(spec_json)


def _exemplars(predictor: QueryPredictor) -> dict[str, str]:
    """For each template, its most popular query (whose spec is filled with new arguments)."""
    best: dict[str, tuple[int, str]] = {}
    for query_hash, template in predictor.templates.items():
        n = predictor.popularity_of(query_hash)
        if template not in best or n > best[template][0]:
            best[template] = (n, query_hash)
    return {template: query_hash for template, (_, query_hash) in best.items()}
