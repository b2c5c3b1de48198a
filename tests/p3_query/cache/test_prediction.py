"""The query-sequence model, predictive warming and pre-fetching, on both backends."""

from __future__ import annotations

from datetime import date

import pytest

from p3_query.cache import QueryCache, QueryEvent, QueryRef
from p3_query.cache.calendar import RaceCalendar
from p3_query.cache.predict import (
    QueryPredictor,
    evaluate_predictor,
    instantiate,
    train_sequence_model,
)
from p3_query.cache.refresh import refresh_cache
from p3_query.cache.warming import Prefetcher, load_predictor, plan_hot_set, train_predictor
from p3_query.spec import validate_spec

# Races on Sundays 2024-03-03 and 2024-03-10 (and nothing until a late-season race).
CALENDAR = RaceCalendar.of(["2024-03-03", "2024-03-10", "2024-06-30"])


def spec(entity_id: int, metric: str = "wins", entity: str = "constructor") -> dict[str, object]:
    return {"entity": entity, "ids": [entity_id], "metrics": [metric]}


def ref(entity_id: int, metric: str = "wins", entity: str = "constructor") -> QueryRef:
    return QueryRef.of(validate_spec(spec(entity_id, metric, entity)))


def event(r: QueryRef, ts: float, session: str | None) -> QueryEvent:
    return QueryEvent(ts=ts, query_hash=r.query_hash, template=r.template, latency_ms=1.0,
                      hit=False, session=session)  # fmt: skip


def test_calendar_phases_follow_the_race_weekend() -> None:
    at = RaceCalendar.at
    assert CALENDAR.phase_of(at(date(2024, 3, 1))) == "race_weekend"  # Friday
    assert CALENDAR.phase_of(at(date(2024, 3, 3), 23)) == "race_weekend"  # race day
    assert CALENDAR.phase_of(at(date(2024, 3, 4))) == "post_race"
    assert CALENDAR.phase_of(at(date(2024, 3, 5))) == "post_race"
    assert CALENDAR.phase_of(at(date(2024, 3, 6))) == "pre_race"  # 4 days before the next
    assert CALENDAR.phase_of(at(date(2024, 3, 20))) == "midweek"
    assert CALENDAR.phase_of(at(date(2024, 5, 1))) == "off_season"
    assert RaceCalendar().phase_of(0) == "midweek"


def test_transitions_are_learned_within_sessions_only() -> None:
    a, b, c = ref(1), ref(1, "podiums"), ref(2)
    events = [
        event(a, 100, "s1"), event(b, 110, "s1"),
        event(a, 200, "s2"), event(b, 205, "s2"),
        event(a, 300, "s3"), event(c, 310, "s3"),
        event(c, 111, "s4"),  # interleaved in time with s1, another analyst
        event(a, 10_000, "s1"),  # s1 came back hours later: a new session, no b -> a
    ]  # fmt: skip
    model = QueryPredictor.fit(events, session_gap_s=1800)
    assert model.successors(a.query_hash) == [
        (b.query_hash, pytest.approx(2 / 3)),
        (c.query_hash, pytest.approx(1 / 3)),
    ]
    assert model.successors(b.query_hash) == []
    assert model.sessions == 5
    assert model.template_successors(a.template)[0][0] == b.template


def test_hot_set_favours_what_is_popular_in_the_coming_phase() -> None:
    weekend = RaceCalendar.at(date(2024, 3, 2))
    midweek = RaceCalendar.at(date(2024, 3, 20))
    live, history = ref(1, "positions_gained"), ref(7, "wins")
    events = [event(live, weekend + i, None) for i in range(10)]
    events += [event(history, midweek + i, None) for i in range(30)]
    model = QueryPredictor.fit(events, CALENDAR)
    assert [h for h, _ in model.hot_set("race_weekend", 1)] == [live.query_hash]
    assert [h for h, _ in model.hot_set("midweek", 1)] == [history.query_hash]
    assert QueryPredictor.from_json(model.to_json()).hot_set("race_weekend", 2) == model.hot_set(
        "race_weekend", 2
    )


def test_a_template_is_filled_with_the_current_query_arguments() -> None:
    exemplar = '{"entity":"constructor","ids":[6],"metrics":["podiums"],"seasons":[2020]}'
    current = '{"entity":"constructor","ids":[1,3],"metrics":["wins"],"seasons":[1990,1991]}'
    assert instantiate(exemplar, current) == {
        "entity": "constructor",
        "ids": [1, 3],
        "metrics": ["podiums"],
        "seasons": [1990, 1991],
    }
    assert instantiate(exemplar, '{"entity":"driver","ids":[1],"metrics":["wins"]}') is None


def _log_sessions(cache: QueryCache, sessions: int) -> None:
    """Analysts look at a constructor's wins, then its podiums, then its points."""
    cache.flip("b1")
    for s in range(sessions):
        for metric in ("wins", "podiums", "points"):
            cache.get_or_compute(ref(s % 3 + 1, metric), bytes, session=f"s{s}")
    cache.flush()


def test_prefetch_after_a_query_computes_its_likely_successors(cache: QueryCache) -> None:
    _log_sessions(cache, 6)
    model = train_predictor(cache)
    assert load_predictor(cache) is not None
    computed: list[str] = []

    def compute(spec_json: str) -> bytes:
        computed.append(spec_json)
        return spec_json.encode()

    prefetcher = Prefetcher(cache, model, compute, background=False)
    cache.clear("b1")
    # A known query: its exact successor (podiums of the same constructor) is pre-fetched.
    prefetcher.after(ref(1), "b1")
    assert cache.get_or_compute(ref(1, "podiums"), bytes).origin == "prefetch"
    # A constructor nobody asked about: the template successor is filled with its id.
    prefetcher.after(ref(42), "b1")
    hit = cache.get_or_compute(ref(42, "podiums"), bytes)
    assert hit.hit and hit.origin == "prefetch"
    assert cache.stats().prefetches == prefetcher.computed >= 2


def test_background_prefetch_never_blocks_and_drains(cache: QueryCache) -> None:
    _log_sessions(cache, 3)
    model = train_predictor(cache)
    cache.clear("b1")
    prefetcher = Prefetcher(cache, model, str.encode, background=True)
    prefetcher.after(ref(1), "b1")
    prefetcher.drain()
    prefetcher.close()
    assert cache.get_or_compute(ref(1, "podiums"), bytes).hit


def test_refresh_warms_the_predicted_hot_set_and_flips_to_the_new_build(
    cache: QueryCache,
) -> None:
    _log_sessions(cache, 6)
    for _ in range(3):  # Ferrari's wins are the favourite question
        cache.get_or_compute(ref(1), bytes, session="fan")
    model = train_predictor(cache, CALENDAR)
    result = refresh_cache(cache, "b2", str.encode, model=model, calendar=CALENDAR, budget=5)
    assert cache.current_build() == "b2"
    assert result.report.previous_build == "b1" and result.report.computed == 5
    assert {p.reason for p in result.planned} == {"predicted"}
    assert result.model["sessions"] == 7 and result.model["query_transitions"] > 0
    # The hottest questions are answered from the new build without computing.
    served = cache.get_or_compute(ref(1), lambda: b"computed")
    assert served.hit and served.build_id == "b2" and served.origin == "warm"
    metadata = result.metadata()
    assert metadata["build_id"] == "b2" and metadata["warmed"] == 5
    assert {"hit_ratio", "latency_ms", "hottest", "most_expensive", "memory_bytes"} <= set(metadata)


def test_without_a_log_warming_falls_back_to_the_hottest_queries(cache: QueryCache) -> None:
    assert plan_hot_set(cache, None, phase=None, budget=10) == []
    _log_sessions(cache, 2)
    planned = plan_hot_set(cache, None, phase=None, budget=2)
    assert len(planned) == 2 and {p.reason for p in planned} == {"popular"}


def test_evaluation_scores_the_newest_part_of_the_log_with_a_model_of_the_older_part() -> None:
    # Every session: Ferrari wins -> podiums -> points, for constructor s % 3 + 1.
    steps = [ref(s % 3 + 1, m) for s in range(20) for m in ("wins", "podiums", "points")]
    events = [event(r, 1000.0 * i, f"s{i // 3}") for i, r in enumerate(steps)]
    evaluation = evaluate_predictor(events, holdout_fraction=0.2, k=1, budget=3)
    assert evaluation is not None
    assert (evaluation.train_events, evaluation.test_events) == (48, 12)
    # 12 test events = 4 sessions of 3 queries = 8 steps, all foreseen by the exact transitions.
    assert evaluation.test_steps == 8 and evaluation.next_query_top_k == 1.0
    assert evaluation.next_template_top_k == 1.0
    assert evaluation.metrics()["next_query_top1"] == 1.0


def test_evaluation_finds_no_sequence_where_there_is_none() -> None:
    # Sessions of one query each: nothing follows anything, so nothing can be predicted.
    events = [event(ref(i % 7 + 1), 5000.0 * i, f"s{i}") for i in range(50)]
    evaluation = evaluate_predictor(events, k=3, budget=3)
    assert evaluation is not None and evaluation.test_steps == 0
    assert evaluation.next_query_top_k == 0.0
    assert evaluate_predictor(events[:9]) is None  # too short to split
    with pytest.raises(ValueError, match="holdout_fraction"):
        evaluate_predictor(events, holdout_fraction=1.0)


def test_phase_aware_hot_set_covers_more_than_popularity_alone() -> None:
    at = RaceCalendar.at
    driver = [ref(d, entity="driver") for d in (7, 8)]
    # Midweek in February, constructor questions dominate the log...
    events = [
        event(ref(c), at(day, h), None)
        for day in (date(2024, 2, 20), date(2024, 2, 21), date(2024, 2, 22))
        for c in (1, 2, 3)
        for h in (9, 10, 11)
    ]
    # ...but on race weekends everyone asks about drivers, and the newest part is a race weekend.
    for day in (date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 8)):
        events += [event(r, at(day), None) for r in driver]
    events += [event(r, at(date(2024, 3, 9), h), None) for r in driver for h in range(7)]
    evaluation = evaluate_predictor(events, CALENDAR, holdout_fraction=0.2, budget=2)
    assert evaluation is not None and evaluation.test_events == 10
    # Popularity alone keeps two constructors; the race-weekend hot set holds both drivers once
    # warming follows the phase enough, and the evaluation finds the weight that does.
    assert evaluation.popular_coverage == 0.0 == evaluation.coverage_by_phase_weight[0.0]
    assert evaluation.hot_set_coverage == 1.0 and evaluation.coverage_lift == 1.0
    assert evaluation.phase_weight == min(
        w for w, c in evaluation.coverage_by_phase_weight.items() if c == 1.0
    )
    model, _ = train_sequence_model(events, CALENDAR, budget=2)
    assert model.phase_weight == evaluation.phase_weight > 0
    assert QueryPredictor.from_json(model.to_json()).phase_weight == model.phase_weight
    weekend = RaceCalendar.at(date(2024, 6, 29))  # the Saturday of the late-season race
    assert {h for h, _ in model.hot_set(CALENDAR.phase_of(weekend), 2)} == {
        r.query_hash for r in driver
    }
