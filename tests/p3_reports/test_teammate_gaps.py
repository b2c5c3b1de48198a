"""The team-mate qualifying gap metrics (registry ``teammate_quali_gap_pct``, ``_sessions``) through
the query engine, against an independent pandas computation over the qualifying mart; and, on the
real history, against published lap times."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from p3_query.engine import Engine
from p3_query.spec import validate_spec
from tests.fixtures.snapshots import PublishedSnapshot

pytestmark = pytest.mark.slow

SESSIONS = ("q3_ms", "q2_ms", "q1_ms")


@pytest.fixture(scope="module")
def engine(snapshot: PublishedSnapshot) -> Iterator[Engine]:
    engine = Engine(snapshot.path, pool_size=1)
    yield engine
    engine.close()


def _answer(engine: Engine, **spec: object) -> pd.DataFrame:
    query = validate_spec(
        {"entity": "driver", "metrics": ["teammate_quali_gap_pct", "teammate_quali_gap_sessions"]}
        | {"limit": 10_000}
        | spec
    )
    with engine.lease() as lease:
        result = lease.execute(query)
    return result.tables["rows"].to_pandas()


def _gaps_by_hand(snapshot: PublishedSnapshot) -> pd.DataFrame:
    """One row per (race, driver, team-mate) with the gap, written without the registry's SQL:
    pair the rows of a team at a race in pandas, take the last session both have a time in."""
    with snapshot.connect() as con:
        laps = con.execute(
            "select race_id, season, constructor_id, driver_id, q1_ms, q2_ms, q3_ms"
            " from marts.fct_qualifying"
        ).df()
    pairs = laps.merge(laps, on=["race_id", "season", "constructor_id"], suffixes=("", "_mate"))
    pairs = pairs[pairs["driver_id"] != pairs["driver_id_mate"]].reset_index(drop=True)
    gap = pd.Series(np.nan, index=pairs.index)
    for session in reversed(SESSIONS):  # q1, then q2, then q3 overwrite: the last shared wins
        mine, mate = pairs[session].astype(float), pairs[f"{session}_mate"].astype(float)
        both = mine.notna() & mate.notna()
        gap[both] = 100.0 * (mine[both] - mate[both]) / mate[both]
    return pairs.assign(gap=gap).dropna(subset=["gap"])


def _assert_same(answer: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    expected = expected.rename(columns={"driver_id": "entity_id"})
    merged = answer.merge(expected, on=keys, how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    assert (merged["teammate_quali_gap_sessions"] == merged["sessions"]).all()
    for got, want in zip(merged["teammate_quali_gap_pct"], merged["median"], strict=True):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), (got, want)


def test_season_gaps_are_the_median_of_each_sessions_gap(
    snapshot: PublishedSnapshot, engine: Engine
) -> None:
    by_hand = _gaps_by_hand(snapshot)
    expected = (
        by_hand.groupby(["season", "driver_id"])["gap"]
        .agg(median="median", sessions="count")
        .reset_index()
    )
    answer = _answer(engine, group_by=["season", "entity"])
    assert len(answer) == len(expected) > 20
    _assert_same(answer, expected, ["season", "entity_id"])
    # A driver and his only team-mate of a season mirror each other around zero.
    assert (answer["teammate_quali_gap_pct"] < 0).any() and (
        answer["teammate_quali_gap_pct"] > 0
    ).any()


def test_career_gaps_are_the_median_over_every_session_not_of_season_medians(
    snapshot: PublishedSnapshot, engine: Engine
) -> None:
    by_hand = _gaps_by_hand(snapshot)
    expected = by_hand.groupby("driver_id")["gap"].agg(median="median", sessions="count")
    answer = _answer(engine, group_by=["entity"])
    _assert_same(answer, expected.reset_index(), ["entity_id"])
    season_medians = by_hand.groupby(["driver_id", "season"])["gap"].median()
    of_medians = season_medians.groupby("driver_id").median()
    assert (of_medians - expected["median"]).abs().max() > 1e-6, "the check cannot tell them apart"


def test_verstappen_and_perez_2023_from_the_published_lap_times(
    snapshot: PublishedSnapshot, engine: Engine
) -> None:
    if snapshot.kind != "real":
        pytest.skip("needs the real Ergast history (set P3_ERGAST_DIR); ran on demo data")
    pair = ["max_verstappen", "perez"]
    bahrain = _answer(engine, ids=pair, seasons=[2023], group_by=["season", "circuit", "entity"])
    bahrain = bahrain[bahrain["circuit_ref"] == "bahrain"].set_index("entity_ref")
    # Bahrain 2023, Q3: Verstappen 1:29.708, Pérez 1:29.846.
    assert bahrain.loc["max_verstappen", "teammate_quali_gap_pct"] == pytest.approx(
        100 * (89.708 - 89.846) / 89.846
    )
    assert bahrain.loc["perez", "teammate_quali_gap_pct"] == pytest.approx(
        100 * (89.846 - 89.708) / 89.708
    )
    season = _answer(engine, ids=pair, seasons=[2023], group_by=["season", "entity"])
    season = season.set_index("entity_ref")
    verstappen, perez = (season.loc[d, "teammate_quali_gap_pct"] for d in pair)
    # Twenty-two weekends, one without a shared time (Australia: Pérez set none, off in Q1).
    assert verstappen < -0.4 and perez > 0.4
    assert verstappen == pytest.approx(-perez, abs=0.02)
    assert list(season.loc[pair, "teammate_quali_gap_sessions"]) == [21, 21]
