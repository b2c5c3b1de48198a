"""The demo source: a deterministic synthetic championship that is internally consistent."""

from __future__ import annotations

import csv
import io
import re
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from p3_common.ergast import REFERENCE_TABLES, SEASON_TABLES, TABLES
from p3_ingest.sources.demo import DemoSource, format_duration
from p3_ingest.sources.schema import arrow_schema, conform
from p3_ingest.sources.source import ErgastSource
from p3_ingest.sources.timing import duration_to_ms

RACE_POINTS = {1: 25, 2: 18, 3: 15, 4: 12, 5: 10, 6: 8, 7: 6, 8: 4, 9: 2, 10: 1}
SPRINT_POINTS = {1: 8, 2: 7, 3: 6, 4: 5, 5: 4, 6: 3, 7: 2, 8: 1}
RUNNING_STATUS_IDS = {1, 62, *range(11, 20), 88}  # Finished, Not classified, +1..+10 Laps

# The default championship, and a small one that starts before knockout qualifying (2006) and
# before sprints, so edge cases (tiny grids, few rounds) go through the same invariants.
CONFIGS: dict[str, dict[str, int]] = {
    "default": {},
    "small": {
        "seed": 7,
        "first_season": 2004,
        "num_seasons": 4,
        "races_per_season": 4,
        "teams": 4,
        "first_sprint_season": 2006,
        "sprints_per_season": 2,
    },
}


@dataclass(frozen=True)
class Demo:
    source: DemoSource
    tables: dict[str, pd.DataFrame]  # season tables concatenated over every season

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]


def _generate(source: DemoSource) -> dict[str, pa.Table]:
    tables = {name: source.reference_table(name) for name in REFERENCE_TABLES}
    for name in SEASON_TABLES:
        tables[name] = pa.concat_tables([source.season_table(name, s) for s in source.seasons()])
    return tables


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


@pytest.fixture(scope="module", params=list(CONFIGS))
def demo(request: pytest.FixtureRequest) -> Demo:
    source = DemoSource(**CONFIGS[request.param])
    frames = {name: table.to_pandas() for name, table in _generate(source).items()}
    return Demo(source, frames)


@pytest.fixture(scope="module")
def default_demo() -> Demo:
    source = DemoSource()
    return Demo(source, {name: t.to_pandas() for name, t in _generate(source).items()})


def _with_year(demo: Demo, table: str) -> pd.DataFrame:
    return demo[table].merge(demo["races"][["race_id", "year", "round"]], on="race_id")


# --- Protocol and configuration ------------------------------------------------------------------


def test_demo_source_implements_the_source_protocol_with_default_seasons() -> None:
    source = DemoSource()
    assert isinstance(source, ErgastSource)
    assert source.name == "demo"
    assert source.seasons() == [2020, 2021, 2022, 2023, 2024]


def test_every_table_has_the_contract_schema_and_passes_conform(demo: Demo) -> None:
    source = demo.source
    for name in REFERENCE_TABLES:
        table = source.reference_table(name)
        assert table.schema.equals(arrow_schema(name)), name
        assert table.num_rows > 0, name
        conform(table, name, source="demo")
    for name in SEASON_TABLES:
        table = source.season_table(name, source.seasons()[-1])
        assert table.schema.equals(arrow_schema(name)), name
        conform(table, name, source="demo")


def test_a_season_outside_the_range_is_empty_with_the_contract_schema() -> None:
    table = DemoSource().season_table("results", 1999)
    assert table.num_rows == 0
    assert table.schema.equals(arrow_schema("results"))


def test_asking_for_a_table_in_the_wrong_scope_or_an_unknown_table_raises() -> None:
    source = DemoSource()
    with pytest.raises(ValueError, match="season_table"):
        source.reference_table("results")
    with pytest.raises(ValueError, match="reference_table"):
        source.season_table("drivers", 2020)
    with pytest.raises(ValueError, match="unknown"):
        source.reference_table("tyres")


@pytest.mark.parametrize(
    "kwargs",
    [{"seed": -1}, {"num_seasons": 0}, {"races_per_season": 31}, {"teams": 1}, {"teams": 21}],
)
def test_an_invalid_configuration_is_rejected(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="invalid demo configuration"):
        DemoSource(**kwargs)


def test_configuration_sets_the_size_of_the_championship() -> None:
    source = DemoSource(first_season=2030, num_seasons=2, races_per_season=5, teams=6)
    assert source.seasons() == [2030, 2031]
    results = source.season_table("results", 2031).to_pandas()
    assert results["race_id"].nunique() == 5
    assert results.groupby("race_id").size().eq(12).all()
    assert results["constructor_id"].nunique() == 6


# --- Determinism ---------------------------------------------------------------------------------


def test_the_same_seed_gives_byte_identical_tables() -> None:
    first = _generate(DemoSource(seed=11))
    second = _generate(DemoSource(seed=11))
    for name in TABLES:
        assert _ipc_bytes(first[name]) == _ipc_bytes(second[name]), name


def test_different_seeds_give_different_data() -> None:
    first, second = DemoSource(seed=1), DemoSource(seed=2)
    for name in ("drivers", "constructors", "circuits"):
        assert not first.reference_table(name).equals(second.reference_table(name)), name
    for name in ("results", "lap_times", "qualifying"):
        assert not first.season_table(name, 2022).equals(second.season_table(name, 2022)), name


def test_a_season_generated_alone_equals_that_season_of_a_full_generation() -> None:
    full = DemoSource(seed=5)
    everything = _generate(full)
    alone = DemoSource(seed=5)
    fewer_seasons = DemoSource(seed=5, num_seasons=3)
    for name in SEASON_TABLES:
        season_rows = alone.season_table(name, 2022)
        assert season_rows.num_rows > 0 or name == "sprint_results", name
        assert _ipc_bytes(season_rows) == _ipc_bytes(full.season_table(name, 2022)), name
        assert season_rows.equals(fewer_seasons.season_table(name, 2022)), name
    assert sum(full.season_table("results", s).num_rows for s in full.seasons()) == (
        everything["results"].num_rows
    )


# --- Referential integrity -----------------------------------------------------------------------


def test_every_referenced_id_exists(demo: Demo) -> None:
    races = set(demo["races"]["race_id"])
    drivers = set(demo["drivers"]["driver_id"])
    constructors = set(demo["constructors"]["constructor_id"])
    for name in SEASON_TABLES:
        frame = demo[name]
        if "race_id" in frame and name != "races":
            assert set(frame["race_id"]) <= races, name
        if "driver_id" in frame:
            assert set(frame["driver_id"]) <= drivers, name
        if "constructor_id" in frame:
            assert set(frame["constructor_id"]) <= constructors, name
        if "status_id" in frame:
            assert set(frame["status_id"]) <= set(demo["status"]["status_id"]), name
    assert set(demo["races"]["circuit_id"]) <= set(demo["circuits"]["circuit_id"])
    assert set(demo["races"]["year"]) == set(demo["seasons"]["year"])


def test_reference_tables_hold_only_entities_that_raced(demo: Demo) -> None:
    assert set(demo["drivers"]["driver_id"]) == set(demo["results"]["driver_id"])
    assert set(demo["constructors"]["constructor_id"]) == set(demo["results"]["constructor_id"])
    assert set(demo["circuits"]["circuit_id"]) == set(demo["races"]["circuit_id"])


def test_entities_are_invented_with_example_urls_and_ids_above_real_ergast_ranges(
    demo: Demo,
) -> None:
    for name, id_column, lowest in (
        ("drivers", "driver_id", 9001),
        ("constructors", "constructor_id", 901),
        ("circuits", "circuit_id", 901),
        ("races", "race_id", 195001),
    ):
        frame = demo[name]
        assert frame[id_column].min() >= lowest, name
        assert frame["url"].str.startswith("https://example.invalid/").all(), name
    drivers = demo["drivers"]
    assert drivers["driver_ref"].is_unique and drivers["code"].is_unique
    assert drivers["code"].str.fullmatch(r"[A-Z]{3}").all()
    assert drivers["driver_ref"].str.fullmatch(r"[a-z_]+").all()


@pytest.mark.real_data
def test_no_demo_name_or_ref_belongs_to_a_real_driver_team_or_circuit(
    default_demo: Demo, ergast_dir: Path
) -> None:
    def real(file: str, *columns: str) -> set[str]:
        with (ergast_dir / file).open(encoding="utf-8", newline="") as handle:
            return {row[c].lower() for row in csv.DictReader(handle) for c in columns}

    demo = default_demo
    real_drivers = real("drivers.csv", "driverRef", "surname")
    assert not real_drivers & set(demo["drivers"]["driver_ref"])
    assert not real_drivers & set(demo["drivers"]["surname"].str.lower())
    real_teams = real("constructors.csv", "constructorRef", "name")
    assert not real_teams & set(demo["constructors"]["constructor_ref"])
    assert not real_teams & set(demo["constructors"]["name"].str.lower())
    real_circuits = real("circuits.csv", "circuitRef", "name", "location")
    assert not real_circuits & set(demo["circuits"]["circuit_ref"])
    assert not real_circuits & set(demo["circuits"]["name"].str.lower())


@pytest.mark.real_data
def test_status_ids_and_texts_are_the_real_ergast_ones(
    default_demo: Demo, ergast_dir: Path
) -> None:
    with (ergast_dir / "status.csv").open(encoding="utf-8", newline="") as handle:
        real = {int(row["statusId"]): row["status"] for row in csv.DictReader(handle)}
    demo = dict(
        zip(default_demo["status"]["status_id"], default_demo["status"]["status"], strict=True)
    )
    assert demo.items() <= real.items()


def test_status_table_has_the_common_ergast_statuses(demo: Demo) -> None:
    status = dict(zip(demo["status"]["status_id"], demo["status"]["status"], strict=True))
    expected = {1: "Finished", 2: "Disqualified", 3: "Accident", 4: "Collision", 5: "Engine"}
    assert expected.items() <= status.items()
    assert status[11] == "+1 Lap" and status[12] == "+2 Laps" and status[6] == "Gearbox"


# --- Calendar ------------------------------------------------------------------------------------


def test_races_are_sundays_from_march_to_november_with_sessions_before_them(demo: Demo) -> None:
    races = demo["races"]
    dates = pd.to_datetime(races["date"])
    assert (dates.dt.day_of_week == 6).all()
    assert dates.dt.month.between(3, 11).all()
    for _, season in races.groupby("year"):
        assert season["round"].tolist() == list(range(1, len(season) + 1))
        assert pd.to_datetime(season["date"]).is_monotonic_increasing
    assert races["time"].notna().all()
    assert (pd.to_datetime(races["fp1_date"]) < dates).all()
    assert (pd.to_datetime(races["quali_date"]) < dates).all()


def test_sprints_are_held_only_from_the_first_sprint_season_on_sprint_weekends(
    demo: Demo,
) -> None:
    races = demo["races"]
    config = demo.source.config
    is_sprint = races["sprint_date"].notna()
    assert not is_sprint[races["year"] < config.first_sprint_season].any()
    later = races[races["year"] >= config.first_sprint_season]
    assert later.groupby("year")["sprint_date"].count().eq(config.sprints_per_season).all()
    # Ergast's sprint-weekend layout: no third practice.
    assert races.loc[is_sprint, "fp3_date"].isna().all()
    assert races.loc[~is_sprint, "fp3_date"].notna().all()
    assert set(demo["sprint_results"]["race_id"]) == set(races.loc[is_sprint, "race_id"])


# --- Line-ups ------------------------------------------------------------------------------------


def test_every_team_runs_two_drivers_at_every_race(demo: Demo) -> None:
    per_team = demo["results"].groupby(["race_id", "constructor_id"])["driver_id"].nunique()
    assert per_team.eq(2).all()


def test_lineups_are_mostly_stable_between_seasons_with_some_moves(default_demo: Demo) -> None:
    results = _with_year(default_demo, "results")
    pairs = {
        year: set(zip(season["driver_id"], season["constructor_id"], strict=True))
        for year, season in results.groupby("year")
    }
    years = sorted(pairs)
    kept = [len(pairs[a] & pairs[b]) / len(pairs[b]) for a, b in pairwise(years)]
    assert min(kept) >= 0.6
    assert any(share < 1.0 for share in kept)
    teams_driven_for = results.groupby("driver_id")["constructor_id"].nunique()
    assert teams_driven_for.max() >= 2
    # A driver keeps his seat for the whole season.
    assert results.groupby(["year", "driver_id"])["constructor_id"].nunique().eq(1).all()


# --- Qualifying and grid -------------------------------------------------------------------------


def test_qualifying_uses_the_knockout_format_from_2006(demo: Demo) -> None:
    quali = _with_year(demo, "qualifying")
    for column in ("q1", "q2", "q3"):
        timed = quali[column].dropna()
        assert timed.str.fullmatch(r"\d:\d{2}\.\d{3}").all()
        assert timed.map(duration_to_ms).between(50_000, 200_000).all()
    for _, race in quali.groupby("race_id"):
        cars = len(race)
        assert sorted(race["position"]) == list(range(1, cars + 1))
        if race["year"].iloc[0] < 2006:
            assert race["q2"].isna().all() and race["q3"].isna().all()
            continue
        q3_cars = min(10, cars // 2)
        q2_cars = q3_cars + (cars - q3_cars + 1) // 2
        assert race.loc[race["position"] > q2_cars, "q2"].isna().all()
        assert race.loc[race["position"] > q3_cars, "q3"].isna().all()
        top = race[race["position"] <= q3_cars].sort_values("position")
        set_times = top["q3"].dropna().map(duration_to_ms)
        assert set_times.is_monotonic_increasing


def test_grid_follows_qualifying_apart_from_penalties_and_pit_lane_starts(demo: Demo) -> None:
    merged = demo["results"].merge(
        demo["qualifying"][["race_id", "driver_id", "position"]].rename(
            columns={"position": "quali"}
        ),
        on=["race_id", "driver_id"],
    )
    assert len(merged) == len(demo["results"])
    agreement = []
    for _, race in merged.groupby("race_id"):
        on_grid = race[race["grid"] > 0]
        assert sorted(on_grid["grid"]) == list(range(1, len(on_grid) + 1))
        agreement.append(on_grid["grid"].corr(on_grid["quali"], method="spearman"))
    assert sum(agreement) / len(agreement) > 0.85
    assert (merged["grid"] == merged["quali"]).mean() > 0.5


def test_some_cars_start_from_the_pit_lane_or_take_grid_penalties(default_demo: Demo) -> None:
    merged = default_demo["results"].merge(
        default_demo["qualifying"][["race_id", "driver_id", "position"]],
        on=["race_id", "driver_id"],
        suffixes=("", "_quali"),
    )
    assert (merged["grid"] == 0).any()
    assert (merged["grid"] > merged["position_quali"]).any()


# --- Race classification -------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["results", "sprint_results"])
def test_position_text_and_status_are_consistent(demo: Demo, table: str) -> None:
    results = demo[table]
    if results.empty:
        pytest.skip("no sprints in this configuration")
    classified = results["position"].notna()
    numbers = results.loc[classified, "position"].astype(int).astype(str)
    assert (results.loc[classified, "position_text"] == numbers).all()
    assert results.loc[~classified, "position_text"].isin({"R", "D", "N"}).all()
    text = results["position_text"]
    assert results.loc[text == "D", "status_id"].eq(2).all()
    assert (~results.loc[text == "R", "status_id"].isin(RUNNING_STATUS_IDS | {2})).all()
    assert results.loc[text == "N", "status_id"].isin(RUNNING_STATUS_IDS).all()
    for _, race in results.groupby("race_id"):
        assert sorted(race["position_order"]) == list(range(1, len(race) + 1))
        ranked = race.sort_values("position_order")
        positions = ranked["position"].dropna().astype(int).tolist()
        assert positions == list(range(1, len(positions) + 1))
        # Classified cars come first, then retirements, then disqualifications.
        assert ranked["position"].notna().tolist() == sorted(
            ranked["position"].notna(), reverse=True
        )
        assert ranked["position_text"].eq("D").tolist() == sorted(ranked["position_text"].eq("D"))
        distance = race["laps"].max()
        finished = race[race["status_id"] == 1]
        assert (finished["laps"] == distance).all()
        for status_id, laps_down in ((11, 1), (12, 2), (13, 3)):
            lapped = race[race["status_id"] == status_id]
            assert (lapped["laps"] == distance - laps_down).all()
            assert lapped["time"].isna().all() and lapped["milliseconds"].isna().all()


@pytest.mark.parametrize("table", ["results", "sprint_results"])
def test_winner_has_the_race_time_and_the_others_on_the_lead_lap_a_gap(
    demo: Demo, table: str
) -> None:
    results = demo[table]
    if results.empty:
        pytest.skip("no sprints in this configuration")
    for _, race in results.groupby("race_id"):
        winner = race[race["position"] == 1].iloc[0]
        assert re.fullmatch(r"(\d:\d{2}|\d{1,2}):\d{2}\.\d{3}", winner["time"])
        assert duration_to_ms(winner["time"]) == winner["milliseconds"]
        timed = race[race["time"].notna() & (race["position"] > 1)]
        assert timed["time"].str.fullmatch(r"\+(\d+:)?\d{1,2}\.\d{3}").all()
        gaps = timed["time"].str[1:].map(duration_to_ms)
        assert (gaps + winner["milliseconds"] == timed["milliseconds"]).all()
        assert timed.sort_values("position")["milliseconds"].is_monotonic_increasing
        # Only finishers on the lead lap have a time.
        assert (race["time"].notna() == (race["status_id"] == 1) & race["position"].notna()).all()


def test_retirements_use_real_looking_statuses_and_some_cars_are_lapped(
    default_demo: Demo,
) -> None:
    results = default_demo["results"].merge(default_demo["status"], on="status_id")
    seen = set(results["status"])
    assert {"Finished", "+1 Lap"} <= seen
    assert len(seen & {"Engine", "Gearbox", "Hydraulics", "Electrical", "Power Unit"}) >= 2
    assert len(seen & {"Accident", "Collision", "Collision damage", "Spun off"}) >= 2
    retired = results["position_text"].eq("R").mean()
    assert 0.03 < retired < 0.2
    assert 0 < results["position_text"].eq("D").sum() < 0.01 * len(results)


@pytest.mark.parametrize("table", ["results", "sprint_results"])
def test_points_follow_the_scoring_system(demo: Demo, table: str) -> None:
    results = demo[table]
    if results.empty:
        pytest.skip("no sprints in this configuration")
    scale = RACE_POINTS if table == "results" else SPRINT_POINTS
    expected = results["position"].map(lambda p: scale.get(int(p), 0) if pd.notna(p) else 0)
    if table == "results":
        # One extra point for the fastest lap, if that driver finishes in the top ten.
        bonus = (results["rank"] == 1) & (results["position"] <= 10)
        expected = expected + bonus.astype(int)
        assert bonus.groupby(results["race_id"]).sum().le(1).all()
        assert bonus.any()
    assert (results["points"] == expected).all()
    assert results.loc[results["position"].isna(), "points"].eq(0).all()


def test_fastest_lap_columns_match_the_lap_times(demo: Demo) -> None:
    results = demo["results"]
    best = (
        demo["lap_times"]
        .sort_values(["race_id", "driver_id", "milliseconds", "lap"])
        .groupby(["race_id", "driver_id"])
        .first()
        .reset_index()
    )
    merged = results.merge(best, on=["race_id", "driver_id"], suffixes=("", "_lap"))
    assert len(merged) == int((results["laps"] > 0).sum())
    assert (merged["fastest_lap"] == merged["lap"]).all()
    assert (merged["fastest_lap_time"] == merged["time_lap"]).all()
    assert merged["fastest_lap_speed"].between(120, 300).all()
    assert results.loc[results["laps"] == 0, "fastest_lap_time"].isna().all()
    for _, race in merged.groupby("race_id"):
        ranked = race.sort_values("rank")
        assert ranked["rank"].tolist() == list(range(1, len(race) + 1))
        assert ranked["milliseconds_lap"].is_monotonic_increasing


# --- Lap times and pit stops ---------------------------------------------------------------------


def test_lap_times_have_one_row_per_lap_completed_by_each_driver(demo: Demo) -> None:
    laps = demo["lap_times"]
    counted = laps.groupby(["race_id", "driver_id"])["lap"].agg(["count", "max"])
    results = demo["results"].set_index(["race_id", "driver_id"])
    completed = results.loc[results["laps"] > 0, "laps"]
    assert counted.index.sort_values().equals(completed.index.sort_values())
    aligned = counted.loc[completed.index]
    assert (aligned["count"] == completed).all()
    assert (aligned["max"] == completed).all()


def test_lap_time_milliseconds_equal_the_parsed_time_string(demo: Demo) -> None:
    laps = demo["lap_times"]
    assert laps["time"].str.fullmatch(r"\d{1,2}:\d{2}\.\d{3}").all()
    assert (laps["time"].map(duration_to_ms) == laps["milliseconds"]).all()


def test_lap_times_add_up_to_the_race_time_of_lead_lap_finishers(demo: Demo) -> None:
    totals = demo["lap_times"].groupby(["race_id", "driver_id"])["milliseconds"].sum()
    results = demo["results"]
    timed = results[results["milliseconds"].notna()].set_index(["race_id", "driver_id"])
    assert (totals.loc[timed.index] == timed["milliseconds"]).all()


def test_lap_positions_are_the_running_order_and_end_in_the_classification(demo: Demo) -> None:
    laps = demo["lap_times"].sort_values(["race_id", "driver_id", "lap"]).copy()
    laps["elapsed"] = laps.groupby(["race_id", "driver_id"])["milliseconds"].cumsum()
    assert not laps.duplicated(["race_id", "lap", "elapsed"]).any()
    running_order = laps.groupby(["race_id", "lap"])["elapsed"].rank(method="first")
    assert (running_order.astype(int) == laps["position"]).all()
    # The order at the flag is the classification of the cars still running.
    results = demo["results"]
    running = results[results["status_id"].isin(RUNNING_STATUS_IDS)]
    last = laps.merge(running, on=["race_id", "driver_id"], suffixes=("", "_result"))
    last = last[last["lap"] == last["laps"]]
    for _, race in last.groupby("race_id"):
        by_flag = race.sort_values(["lap", "elapsed"], ascending=[False, True])["driver_id"]
        by_result = race.sort_values("position_order")["driver_id"]
        assert by_flag.tolist() == by_result.tolist()


def test_pit_stops_are_numbered_timed_and_slow_down_the_out_lap(demo: Demo) -> None:
    stops = demo["pit_stops"]
    assert not stops.empty
    assert stops["duration"].str.fullmatch(r"\d{2}\.\d{3}").all()
    assert (stops["duration"].map(duration_to_ms) == stops["milliseconds"]).all()
    assert stops["milliseconds"].between(19_000, 40_000).all()
    per_driver = stops.groupby(["race_id", "driver_id"])
    assert per_driver["stop"].apply(lambda s: s.tolist() == list(range(1, len(s) + 1))).all()
    assert per_driver["lap"].apply(lambda s: s.is_monotonic_increasing).all()
    assert per_driver["time"].apply(lambda s: s.is_monotonic_increasing).all()
    assert per_driver.size().between(1, 3).all()
    with_laps = stops.merge(demo["results"][["race_id", "driver_id", "laps"]])
    assert len(with_laps) == len(stops)
    assert (with_laps["lap"] <= with_laps["laps"]).all()
    laps = demo["lap_times"].set_index(["race_id", "driver_id", "lap"])["milliseconds"]
    typical = laps.groupby(level=[0, 1]).median()
    out_laps = stops.assign(lap=stops["lap"] + 1).set_index(["race_id", "driver_id", "lap"])
    out_laps = out_laps.index.intersection(laps.index)
    slower = laps.loc[out_laps] - typical.reindex(out_laps.droplevel(2)).to_numpy()
    assert (slower > 10_000).all()


def test_an_occasional_safety_car_produces_slow_laps_for_the_whole_field(
    default_demo: Demo,
) -> None:
    laps = default_demo["lap_times"]
    typical = laps.groupby("race_id")["milliseconds"].transform("median")
    slow = laps[laps["milliseconds"] > 1.25 * typical]
    stops = default_demo["pit_stops"]
    pit_laps = set(zip(stops["race_id"], stops["driver_id"], stops["lap"] + 1, strict=True))
    keys = zip(slow["race_id"], slow["driver_id"], slow["lap"], strict=True)
    not_pitting = slow[[key not in pit_laps for key in keys]]
    whole_field_slow = not_pitting.groupby(["race_id", "lap"]).size() >= 10
    races_with_safety_car = whole_field_slow[whole_field_slow].index.get_level_values(0).nunique()
    assert 0 < races_with_safety_car < laps["race_id"].nunique()


# --- Standings -----------------------------------------------------------------------------------


def _points_per_round(demo: Demo, key: str) -> pd.DataFrame:
    scored = pd.concat([demo["results"], demo["sprint_results"]])
    points = scored.groupby(["race_id", key])["points"].sum().rename("round_points")
    wins = demo["results"].assign(win=demo["results"]["position"] == 1)
    won = wins.groupby(["race_id", key])["win"].sum().rename("round_wins")
    merged = pd.concat([points, won], axis=1).reset_index()
    merged = merged.merge(demo["races"][["race_id", "year", "round"]], on="race_id")
    merged = merged.sort_values(["year", key, "round"])
    merged["points"] = merged.groupby(["year", key])["round_points"].cumsum()
    merged["wins"] = merged.groupby(["year", key])["round_wins"].cumsum()
    return merged


@pytest.mark.parametrize(
    ("table", "key"),
    [("driver_standings", "driver_id"), ("constructor_standings", "constructor_id")],
)
def test_standings_are_the_cumulative_points_and_wins_of_the_results(
    demo: Demo, table: str, key: str
) -> None:
    expected = _points_per_round(demo, key).set_index(["race_id", key])
    standings = demo[table].set_index(["race_id", key])
    assert len(standings) == len(expected)
    aligned = expected.loc[standings.index]
    assert (standings["points"] == aligned["points"]).all()
    assert (standings["wins"] == aligned["wins"]).all()
    season_total = demo["results"]["points"].sum() + demo["sprint_results"]["points"].sum()
    last_rounds = demo["races"].groupby("year")["race_id"].max()
    final = demo[table][demo[table]["race_id"].isin(last_rounds)]
    assert final["points"].sum() == season_total


@pytest.mark.parametrize(
    ("table", "key"),
    [("driver_standings", "driver_id"), ("constructor_standings", "constructor_id")],
)
def test_standings_positions_rank_the_points(demo: Demo, table: str, key: str) -> None:
    for _, after_race in demo[table].groupby("race_id"):
        ranked = after_race.sort_values("position")
        assert ranked["position"].tolist() == list(range(1, len(ranked) + 1))
        assert ranked["points"].is_monotonic_decreasing
        assert (ranked["position_text"] == ranked["position"].astype(str)).all()


def test_constructor_results_are_each_teams_points_per_race(demo: Demo) -> None:
    scored = pd.concat([demo["results"], demo["sprint_results"]])
    expected = scored.groupby(["race_id", "constructor_id"])["points"].sum()
    actual = demo["constructor_results"].set_index(["race_id", "constructor_id"])["points"]
    assert actual.sort_index().equals(expected.sort_index())


# --- Realism for analytics and the race-outcome model --------------------------------------------


def test_grid_order_predicts_the_result_well_but_not_perfectly(default_demo: Demo) -> None:
    results = default_demo["results"]
    winners = results[results["position"] == 1]
    pole_wins = (winners["grid"] == 1).mean()
    assert 0.3 <= pole_wins <= 0.8
    started = results[results["grid"] > 0]
    correlations = started.groupby("race_id")[["grid", "position_order"]].corr(method="spearman")
    per_race = correlations.xs("grid", level=1)["position_order"]
    assert 0.4 < per_race.mean() < 0.9
    identical = started.groupby("race_id").apply(
        lambda r: (r["grid"] == r["position_order"]).all(), include_groups=False
    )
    assert not identical.any()


def test_recent_form_predicts_positions_gained_beyond_the_grid(default_demo: Demo) -> None:
    # The race-outcome model must be able to beat a grid-order baseline: a driver's earlier
    # gains this season carry over to the next race.
    results = _with_year(default_demo, "results")
    started = results[results["grid"] > 0].sort_values(["year", "round"]).copy()
    started["gained"] = started["grid"] - started["position_order"]
    started["form"] = started.groupby(["year", "driver_id"])["gained"].transform(
        lambda s: s.shift().expanding().mean()
    )
    later = started[started["round"] > 3]
    assert later["form"].corr(later["gained"]) > 0.1


def test_the_better_car_usually_finishes_ahead(default_demo: Demo) -> None:
    results = _with_year(default_demo, "results")
    team_points = results.groupby(["year", "constructor_id"])["points"].sum()
    best = team_points.groupby(level=0).idxmax().map(lambda key: key[1])
    worst = team_points.groupby(level=0).idxmin().map(lambda key: key[1])
    for year, season in results.groupby("year"):
        mean_order = season.groupby("constructor_id")["position_order"].mean()
        assert mean_order[best[year]] < mean_order[worst[year]] - 5


def test_format_duration_round_trips_through_the_ergast_parser() -> None:
    for ms in (23_456, 61_001, 98_109, 5_690_616, 1_538_426, 600_000):
        assert duration_to_ms(format_duration(ms)) == ms
    assert format_duration(5_690_616) == "1:34:50.616"
    assert format_duration(66_805) == "1:06.805"
    assert format_duration(5_478) == "5.478"


def test_generating_every_table_of_the_default_championship_is_fast() -> None:
    # Regression guard with a wide margin (it takes well under 2 s on a laptop).
    started = time.perf_counter()
    _generate(DemoSource())
    assert time.perf_counter() - started < 10
