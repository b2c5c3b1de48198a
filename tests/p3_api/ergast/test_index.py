"""The in-memory Ergast index against the SQL it replaced (``sql_reference``), on the real history.

The index answers every question from rows read once per build; the reference answers each with
one SQL statement over the published marts. Both are run on the same cursor of the real snapshot
and must give the same JSON text byte for byte (or refuse the question with the same message).
A few behaviours the random sample is unlikely to pin down are checked on their own, against SQL
written here.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest

from p3_api.ergast.grammar import FILTERS, RESOURCES, ErgastRequest, parse
from p3_api.ergast.index import ALLOWED, BadRequest, ErgastIndex
from p3_query.engine import Engine
from tests.fixtures.snapshots import PublishedSnapshot

from . import sql_reference

URL = "http://testserver/ergast/f1/"
SAMPLE_SIZE = 2000
SEED = 20261201

# Season and round forms: none, years (with laps, pit stops, sprints, the first season, one
# before any season), ``current``; rounds that exist, ``last``, ``next`` and one no season has.
SEASONS = ("", "", "2008", "2012", "2019", "2021", "2023", "2024", "1950", "1949", "current")
ROUNDS = ("", "", "1", "6", "17", "last", "next", "99")
# Values per filter keyword: ones the history has, and refs / numbers it does not.
VALUES: dict[str, tuple[str, ...]] = {
    "circuits": ("monaco", "monza", "silverstone", "spa", "no_such_circuit"),
    "constructors": ("ferrari", "red_bull", "mclaren", "brawn", "no_such_team"),
    "drivers": ("alonso", "hamilton", "max_verstappen", "senna", "michael_schumacher", "nobody"),
    "grid": ("1", "0", "3", "40"),
    "results": ("1", "2", "10", "60"),
    "fastest": ("1", "2", "30"),
    "status": ("1", "11", "5", "9999"),
    "laps": ("1", "5", "44", "500"),
    "pitstops": ("1", "2", "9"),
    "qualifying": ("1", "3", "99"),
    "sprint": ("1", "2", "50"),
    "driverStandings": ("1", "2", "90"),
    "constructorStandings": ("1", "2", "90"),
}
LIMITS = (1, 5, 30, 30, 100, 1000)  # no 0: the reference wrongly counts 0 rows for limit=0
OFFSETS = (0, 0, 0, 3, 17, 100_000)


@dataclass(frozen=True)
class Reader:
    """A cursor on the real snapshot and the index of its build."""

    cursor: duckdb.DuckDBPyConnection
    index: ErgastIndex

    def answer(self, path: str, *, limit: int = 30, offset: int = 0) -> dict[str, Any]:
        """The index's ``MRData`` for ``path`` (parsed from its JSON text)."""
        request = parse(path, limit=limit, offset=offset)
        return json.loads(self.index.answer(request, URL + path, self.cursor))["MRData"]

    def sql(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        return self.cursor.execute(query, list(params)).fetchall()


@pytest.fixture(scope="module")
def reader(real_snapshot: PublishedSnapshot) -> Iterator[Reader]:
    """One lease on the real snapshot for the module, so the index loads each part once."""
    engine = Engine(real_snapshot.path, pool_size=1)
    try:
        with engine.lease() as lease:
            yield Reader(lease.cursor, ErgastIndex(lease.build_id))
    finally:
        engine.close()


@dataclass(frozen=True)
class Question:
    """One sampled Ergast question: its path and page."""

    path: str
    limit: int
    offset: int

    def request(self) -> ErgastRequest:
        return parse(self.path, limit=self.limit, offset=self.offset)

    def __str__(self) -> str:
        return f"{self.path}?limit={self.limit}&offset={self.offset}"


def _keywords_allowed(resource: str) -> list[str]:
    return [k for k in VALUES if FILTERS[k.lower()][0] in ALLOWED[resource]]


def sample_questions(rng: random.Random, size: int) -> list[Question]:
    """``size`` well-formed questions, every resource in turn, mostly with filters it allows."""
    questions = []
    for i in range(size):
        resource = RESOURCES[i % len(RESOURCES)]
        parts = []
        season = rng.choice(SEASONS)
        if resource in ("laps", "pitstops") and rng.random() < 0.8:
            season = rng.choice(("2012", "2019", "current"))  # they need a season and a round
        if season:
            parts.append(season)
            round_ = rng.choice(ROUNDS)
            if resource in ("laps", "pitstops") and not round_ and rng.random() < 0.8:
                round_ = rng.choice(("1", "6", "last"))
            if round_:
                parts.append(round_)
        allowed = _keywords_allowed(resource)
        chosen: list[str] = []
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            pool = allowed if allowed and rng.random() < 0.85 else list(VALUES)
            keyword = rng.choice(pool)
            if keyword not in chosen:
                chosen.append(keyword)
        for keyword in chosen:
            parts += [keyword, rng.choice(VALUES[keyword])]
        parts.append(resource)
        path = "/".join(parts) + ".json"
        questions.append(Question(path, rng.choice(LIMITS), rng.choice(OFFSETS)))
    return questions


def dumps(document: object) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def reference_answer(cursor: duckdb.DuckDBPyConnection, request: ErgastRequest, url: str) -> str:
    """The JSON text the retired SQL answered ``request`` with."""
    return dumps(sql_reference.document(request, sql_reference.fetch(cursor, request), url))


def first_difference(a: str, b: str) -> int:
    """The position of the first character where ``a`` and ``b`` differ."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def describe(question: Question, expected: str, got: str) -> str:
    at = first_difference(expected, got)
    window = slice(max(at - 60, 0), at + 100)
    return (
        f"{question}: first difference at character {at}\n"
        f"  reference: ...{expected[window]}\n"
        f"  index:     ...{got[window]}"
    )


def test_index_answers_as_the_sql_reference(reader: Reader) -> None:
    """On a fixed random sample of questions over every resource, season and round form, filter
    and page, the index answers the reference's JSON text exactly, or refuses it the same way."""
    mismatches: list[str] = []
    compared: Counter[str] = Counter()
    with_rows: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    skipped: list[str] = []
    for question in sample_questions(random.Random(SEED), SAMPLE_SIZE):
        request = question.request()
        url = URL + question.path
        try:
            expected = reference_answer(reader.cursor, request, url)
        except BadRequest as refusal:
            expected = f"400 {refusal}"
        except duckdb.Error:
            # The reference's known bug: races filtered by results bind a table it never joined.
            if request.resource == "races" and request.given() & sql_reference.RESULT_FILTERS:
                skipped.append(str(question))
                continue
            raise
        try:
            got = reader.index.answer(request, url, reader.cursor)
        except BadRequest as refusal:
            got = f"400 {refusal}"
        if got != expected:
            mismatches.append(describe(question, expected, got))
            continue
        if got.startswith("400 "):
            refused[request.resource] += 1
            continue
        compared[request.resource] += 1
        if json.loads(got)["MRData"]["total"] != "0":
            with_rows[request.resource] += 1
    assert not mismatches, f"{len(mismatches)} answers differ:\n" + "\n".join(mismatches[:5])
    # The sample really asked every resource questions that have answers.
    unanswered = [resource for resource in RESOURCES if not with_rows[resource]]
    assert not unanswered, f"the sample has no answered question about {unanswered}"
    assert sum(compared.values()) > SAMPLE_SIZE // 2 and sum(refused.values()) > 0
    assert len(skipped) < SAMPLE_SIZE // 10


def test_limit_zero_still_counts_every_row(reader: Reader) -> None:
    """``limit=0`` answers no rows but the total of every row the question selects."""
    empty = reader.answer("2008/results.json", limit=0)
    full = reader.answer("2008/results.json", limit=1000)
    (count,) = reader.sql("select count(*) from marts.fct_race_results where season = ?", 2008)[0]
    assert empty["limit"] == "0" and empty["RaceTable"]["Races"] == []
    assert empty["total"] == full["total"] == str(count) and count > 0


def test_races_filtered_by_results(reader: Reader) -> None:
    """``races`` filtered by results answers the races in which such a result exists."""
    ferrari = reader.answer("2008/constructors/ferrari/races.json", limit=100)
    expected = reader.sql(
        "select distinct round from marts.fct_race_results r "
        "join marts.dim_constructors c using (constructor_id) "
        "where season = ? and c.constructor_ref = ? order by round",
        2008,
        "ferrari",
    )
    rounds = [int(race["round"]) for race in ferrari["RaceTable"]["Races"]]
    assert rounds == [r for (r,) in expected] and len(rounds) > 10
    assert ferrari["total"] == str(len(rounds))

    wins = reader.answer("drivers/alonso/results/1/races.json", limit=100)
    expected = reader.sql(
        "select distinct season, round from marts.fct_race_results r "
        "join marts.dim_drivers d using (driver_id) "
        "where d.driver_ref = ? and r.position_order = ? order by season, round",
        "alonso",
        1,
    )
    races = [(int(race["season"]), int(race["round"])) for race in wins["RaceTable"]["Races"]]
    assert races == expected and len(races) > 20
    assert wins["total"] == str(len(races))


def test_a_round_past_999_is_empty_not_the_next_season(reader: Reader) -> None:
    """Rows are keyed by ``season * 1000 + round``: round 1005 of 2023 must not be 2024's 5th."""
    assert int(reader.answer("2024/5/results.json")["total"]) > 0
    past = reader.answer("2023/1005/results.json")
    assert past["total"] == "0" and past["RaceTable"]["Races"] == []
    assert past["RaceTable"]["season"] == "2023" and past["RaceTable"]["round"] == "1005"
    request = parse("2023/1005/results.json")
    url = URL + "2023/1005/results.json"
    expected = reference_answer(reader.cursor, request, url)
    assert reader.index.answer(request, url, reader.cursor) == expected


def test_shared_drives_page_in_result_id_order(reader: Reader) -> None:
    """Results sharing a finishing position (shared drives) page in one fixed order: paging a
    race one result at a time yields each result exactly once, as one big page lists them."""
    ((season, round_),) = reader.sql(
        "select season, round from marts.fct_race_results "
        "group by season, round, position_order having count(*) > 1 "
        "order by season, round limit 1"
    )
    path = f"{season}/{round_}/results.json"

    def results(page: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
        return [
            (r["Driver"]["driverId"], r.get("number"), r.get("laps"))
            for race in page["RaceTable"]["Races"]
            for r in race["Results"]
        ]

    everything = results(reader.answer(path, limit=1000))
    total = len(everything)
    paged = []
    for offset in range(total):
        page = results(reader.answer(path, limit=1, offset=offset))
        assert len(page) == 1, f"{path} offset {offset}: {page}"
        paged += page
    assert paged == everything and total > 1
    assert len(set(everything)) == total
