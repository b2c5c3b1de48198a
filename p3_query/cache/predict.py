"""A model of analysts' query sequences, learned from the query log.

Two parts, both plain counts so the model is cheap to train on every publish and easy to inspect:

- first-order Markov transitions between consecutive queries of a session, at two levels: exact
  queries (hash -> next hash) and query templates (template -> next template, used to predict the
  same analysis for the entity the analyst is looking at now, which the exact level has never seen);
- popularity of each query per phase of the race calendar (race weekend, post race, ...).

Warming pre-computes the hot set of the phase ahead plus the likely successors of those queries;
after every answer the likely next queries are pre-fetched.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .calendar import RaceCalendar
from .core import PARAMETER_FIELDS, QueryEvent

MODEL_NAME = "predictor"
DEFAULT_PHASE_WEIGHT = 0.5
# Phase weights tried on the held-out log; on a tie the first (the least phase-driven) wins.
PHASE_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass
class QueryPredictor:
    """Transition and popularity counts, with predictions derived from them."""

    transitions: dict[str, Counter[str]] = field(default_factory=dict)
    template_transitions: dict[str, Counter[str]] = field(default_factory=dict)
    popularity: dict[str, Counter[str]] = field(default_factory=dict)  # phase -> hash counts
    templates: dict[str, str] = field(default_factory=dict)  # hash -> template
    trained_on: int = 0
    sessions: int = 0
    trained_at: float = 0.0
    max_successors: int = 10
    session_gap_s: float = 1800.0
    # How much the hot set follows the calendar phase rather than overall popularity; learned on
    # the newest part of the log by train_sequence_model.
    phase_weight: float = DEFAULT_PHASE_WEIGHT
    # The MLflow run this model was tracked in (set by the training asset; "" when untracked).
    mlflow_run_id: str = ""

    @classmethod
    def fit(
        cls,
        events: Iterable[QueryEvent],
        calendar: RaceCalendar | None = None,
        *,
        session_gap_s: float = 1800.0,
        max_successors: int = 10,
    ) -> QueryPredictor:
        """Learn from a query log. Events without a session id are split into sessions by gaps."""
        calendar = calendar or RaceCalendar()
        by_session: dict[str, list[QueryEvent]] = defaultdict(list)
        model = cls(
            max_successors=max_successors, session_gap_s=session_gap_s, trained_at=time.time()
        )
        popularity: dict[str, Counter[str]] = defaultdict(Counter)
        for event in events:
            by_session[event.session or ""].append(event)
            popularity[calendar.phase_of(event.ts)][event.query_hash] += 1
            popularity["all"][event.query_hash] += 1
            model.templates[event.query_hash] = event.template
            model.trained_on += 1
        transitions: dict[str, Counter[str]] = defaultdict(Counter)
        template_transitions: dict[str, Counter[str]] = defaultdict(Counter)
        for previous, event, starts_session in _session_steps(by_session.values(), session_gap_s):
            model.sessions += starts_session
            if previous is not None:
                if event.query_hash != previous.query_hash:
                    transitions[previous.query_hash][event.query_hash] += 1
                template_transitions[previous.template][event.template] += 1
        model.transitions = _trim(transitions, max_successors)
        model.template_transitions = _trim(template_transitions, max_successors)
        model.popularity = dict(popularity)
        return model

    # ----------------------------------------------------------------- predictions
    def successors(
        self, query_hash: str, k: int = 3, min_probability: float = 0.1
    ) -> list[tuple[str, float]]:
        """The ``k`` most likely next queries after ``query_hash`` with P >= ``min_probability``."""
        return _top(self.transitions.get(query_hash), k, min_probability)

    def template_successors(
        self, template: str, k: int = 3, min_probability: float = 0.1
    ) -> list[tuple[str, float]]:
        """The most likely next templates after ``template`` (may include itself)."""
        return _top(self.template_transitions.get(template), k, min_probability)

    def hot_set(
        self, phase: str | None, budget: int, *, successors_per_query: int = 2
    ) -> list[tuple[str, float]]:
        """Up to ``budget`` query hashes worth pre-computing for ``phase``, best first.

        Score = w * share of the phase's queries + (1 - w) * share of all queries, with w the
        model's ``phase_weight``; then the likely successors of those queries, scored by their
        parent's score times the transition probability.
        """
        everything = self.popularity.get("all", Counter())
        in_phase = self.popularity.get(phase or "", Counter())
        total_all = sum(everything.values()) or 1
        total_phase = sum(in_phase.values()) or 1
        weight = self.phase_weight if in_phase else 0.0
        scores: dict[str, float] = {}
        for query_hash, n in everything.items():
            scores[query_hash] = (1 - weight) * n / total_all + weight * in_phase.get(
                query_hash, 0
            ) / total_phase
        seeds = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:budget]
        ranked = dict(seeds)
        for query_hash, score in seeds:
            for successor, p in self.successors(query_hash, successors_per_query, 0.2):
                ranked[successor] = max(ranked.get(successor, 0.0), score * p)
        return sorted(ranked.items(), key=lambda kv: (-kv[1], kv[0]))[:budget]

    def popularity_of(self, query_hash: str) -> int:
        """How often ``query_hash`` appears in the training log."""
        return int(self.popularity.get("all", Counter()).get(query_hash, 0))

    def summary(self) -> dict[str, Any]:
        """Size and shape of the model, for metadata and the CLI."""
        return {
            "trained_on_events": self.trained_on,
            "sessions": self.sessions,
            "queries": len(self.popularity.get("all", {})),
            "templates": len(set(self.templates.values())),
            "query_transitions": sum(len(c) for c in self.transitions.values()),
            "template_transitions": sum(len(c) for c in self.template_transitions.values()),
            "phases": sorted(p for p in self.popularity if p != "all"),
            "phase_weight": self.phase_weight,
            "mlflow_run_id": self.mlflow_run_id or None,
        }

    def params(self) -> dict[str, Any]:
        """The training parameters, for MLflow."""
        return {
            "session_gap_s": self.session_gap_s,
            "max_successors": self.max_successors,
            "phase_weight": self.phase_weight,
        }

    # ----------------------------------------------------------------- persistence
    def to_json(self) -> str:
        """Serialise (stored in the cache backend next to the entries)."""
        return json.dumps(
            {
                "version": 1,
                "transitions": self.transitions,
                "template_transitions": self.template_transitions,
                "popularity": self.popularity,
                "templates": self.templates,
                "trained_on": self.trained_on,
                "sessions": self.sessions,
                "trained_at": self.trained_at,
                "max_successors": self.max_successors,
                "session_gap_s": self.session_gap_s,
                "phase_weight": self.phase_weight,
                "mlflow_run_id": self.mlflow_run_id,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> QueryPredictor:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)

        def counters(table: dict[str, dict[str, int]]) -> dict[str, Counter[str]]:
            return {k: Counter(v) for k, v in table.items()}

        return cls(
            transitions=counters(data["transitions"]),
            template_transitions=counters(data["template_transitions"]),
            popularity=counters(data["popularity"]),
            templates=dict(data["templates"]),
            trained_on=int(data["trained_on"]),
            sessions=int(data["sessions"]),
            trained_at=float(data["trained_at"]),
            max_successors=int(data["max_successors"]),
            session_gap_s=float(data.get("session_gap_s", 1800.0)),
            phase_weight=float(data.get("phase_weight", DEFAULT_PHASE_WEIGHT)),
            mlflow_run_id=str(data.get("mlflow_run_id", "")),
        )


def _session_steps(
    streams: Iterable[list[QueryEvent]], session_gap_s: float
) -> Iterator[tuple[QueryEvent | None, QueryEvent, bool]]:
    """``(previous in the same session or None, event, starts a session)`` for each event.

    A stream is one session id's events (sorted here by time); a gap longer than
    ``session_gap_s`` starts a new session within it.
    """
    for stream in streams:
        stream.sort(key=lambda e: e.ts)
        previous: QueryEvent | None = None
        for event in stream:
            starts = previous is None or event.ts - previous.ts > session_gap_s
            yield (None if starts else previous), event, starts
            previous = event


@dataclass(frozen=True)
class PredictorEvaluation:
    """How well a model trained on the older part of a query log predicts the newer part.

    - ``next_query_top_k``: share of within-session steps of the test part whose next query is
      among the model's top-k exact successors of the previous one;
    - ``next_template_top_k``: the same one level up, for the analysis (template) asked next;
    - ``coverage_by_phase_weight``: share of test requests whose query is in the hot set the
      model would warm for the calendar phase the request falls in (``budget`` queries per
      phase), for each phase weight tried; ``phase_weight`` is the best of them and
      ``hot_set_coverage`` its coverage (chosen and scored on the same held-out part, so
      optimistic by at most the spread of the table, which is logged whole);
    - ``popular_coverage``: the same for the baseline without prediction, the ``budget`` most
      requested queries of the training part; ``coverage_lift`` is the difference.
    """

    train_events: int
    test_events: int
    test_steps: int
    k: int
    budget: int
    next_query_top_k: float
    next_template_top_k: float
    coverage_by_phase_weight: dict[float, float]
    popular_coverage: float

    @property
    def phase_weight(self) -> float:
        """The phase weight whose hot set covered most of the held-out requests."""
        return max(self.coverage_by_phase_weight, key=self.coverage_by_phase_weight.__getitem__)

    @property
    def hot_set_coverage(self) -> float:
        """Held-out coverage of the hot set at the best phase weight."""
        return self.coverage_by_phase_weight[self.phase_weight]

    @property
    def coverage_lift(self) -> float:
        """Hot-set coverage gained by prediction over plain popularity."""
        return self.hot_set_coverage - self.popular_coverage

    def metrics(self) -> dict[str, float]:
        """Flat numeric metrics (MLflow and asset metadata)."""
        return {
            "train_events": self.train_events,
            "test_events": self.test_events,
            "test_steps": self.test_steps,
            f"next_query_top{self.k}": round(self.next_query_top_k, 4),
            f"next_template_top{self.k}": round(self.next_template_top_k, 4),
            "phase_weight": self.phase_weight,
            "hot_set_coverage": round(self.hot_set_coverage, 4),
            "popular_coverage": round(self.popular_coverage, 4),
            "coverage_lift": round(self.coverage_lift, 4),
            **{
                f"coverage_at_phase_weight_{w:g}": round(c, 4)
                for w, c in self.coverage_by_phase_weight.items()
            },
        }


def evaluate_predictor(
    events: Sequence[QueryEvent],
    calendar: RaceCalendar | None = None,
    *,
    holdout_fraction: float = 0.2,
    k: int = 3,
    budget: int = 50,
    session_gap_s: float = 1800.0,
    max_successors: int = 10,
    phase_weights: Sequence[float] = PHASE_WEIGHTS,
) -> PredictorEvaluation | None:
    """Train on the oldest ``1 - holdout_fraction`` of ``events`` (by time), score on the rest.

    None when the log is too short to split (fewer than 10 events): there is nothing to measure.
    """
    if not 0 < holdout_fraction < 1:
        raise ValueError(f"holdout_fraction must lie in (0, 1), not {holdout_fraction}")
    ordered = sorted(events, key=lambda e: e.ts)
    cut = int(len(ordered) * (1 - holdout_fraction))
    if len(ordered) < 10 or cut == 0 or cut == len(ordered):
        return None
    calendar = calendar or RaceCalendar()
    train, test = ordered[:cut], ordered[cut:]
    model = QueryPredictor.fit(
        train, calendar, session_gap_s=session_gap_s, max_successors=max_successors
    )
    by_session: dict[str, list[QueryEvent]] = defaultdict(list)
    for event in test:
        by_session[event.session or ""].append(event)
    steps = exact = templated = 0
    for previous, event, _ in _session_steps(by_session.values(), session_gap_s):
        if previous is None:
            continue
        steps += 1
        exact += event.query_hash in rank_hashes(model.successors(previous.query_hash, k, 0.0))
        templated += event.template in rank_hashes(
            model.template_successors(previous.template, k, 0.0)
        )
    popular = set(rank_hashes(model.popularity.get("all", Counter()).most_common(budget)))
    phases = [calendar.phase_of(event.ts) for event in test]
    coverage: dict[float, float] = {}
    for weight in phase_weights:
        model.phase_weight = weight
        hot_sets = {p: set(rank_hashes(model.hot_set(p, budget))) for p in set(phases)}
        covered = sum(e.query_hash in hot_sets[p] for e, p in zip(test, phases, strict=True))
        coverage[weight] = covered / len(test)
    return PredictorEvaluation(
        train_events=len(train),
        test_events=len(test),
        test_steps=steps,
        k=k,
        budget=budget,
        next_query_top_k=exact / steps if steps else 0.0,
        next_template_top_k=templated / steps if steps else 0.0,
        coverage_by_phase_weight=coverage,
        popular_coverage=sum(e.query_hash in popular for e in test) / len(test),
    )


def train_sequence_model(
    events: Sequence[QueryEvent],
    calendar: RaceCalendar | None = None,
    *,
    budget: int,
    holdout_fraction: float = 0.2,
    k: int = 3,
    session_gap_s: float = 1800.0,
) -> tuple[QueryPredictor, PredictorEvaluation | None]:
    """The model to serve, fitted on every event, and its evaluation on the newest part.

    The evaluation also picks the phase weight (how much warming follows the calendar phase
    rather than overall popularity) that covered the held-out requests best; with too short a
    log to evaluate, the default weight stays.
    """
    evaluation = evaluate_predictor(
        events,
        calendar,
        holdout_fraction=holdout_fraction,
        k=k,
        budget=budget,
        session_gap_s=session_gap_s,
    )
    model = QueryPredictor.fit(events, calendar, session_gap_s=session_gap_s)
    if evaluation is not None:
        model.phase_weight = evaluation.phase_weight
    return model, evaluation


def instantiate(template_spec_json: str, current_spec_json: str) -> dict[str, Any] | None:
    """The template's spec with the current query's arguments (ids, seasons, ...) filled in.

    E.g. after "Ferrari wins 2010-2020" the template "constructor podiums" becomes "Ferrari podiums
    2010-2020". None if either document is not a JSON object.
    """
    try:
        template = json.loads(template_spec_json)
        current = json.loads(current_spec_json)
    except ValueError:
        return None
    if not isinstance(template, dict) or not isinstance(current, dict):
        return None
    if template.get("entity") != current.get("entity"):
        return None  # arguments only carry over between analyses of the same kind of entity
    filled = dict(template)
    for name in PARAMETER_FIELDS:
        if name in current and name != "limit":
            filled[name] = current[name]
    return filled


def _trim(table: dict[str, Counter[str]], k: int) -> dict[str, Counter[str]]:
    return {key: Counter(dict(counts.most_common(k))) for key, counts in table.items()}


def _top(counts: Counter[str] | None, k: int, min_probability: float) -> list[tuple[str, float]]:
    if not counts:
        return []
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(key, n / total) for key, n in ranked[:k] if n / total >= min_probability]


def rank_hashes(pairs: Sequence[tuple[str, float]]) -> list[str]:
    """Just the hashes of ``(hash, score)`` pairs, in order."""
    return [h for h, _ in pairs]
