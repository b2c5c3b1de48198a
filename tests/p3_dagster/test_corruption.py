"""Corruption matrix: one fault per case in a copy of the source data; the source itself, or the
validation before the load commits, fails the load's step naming the broken check; the raw table
keeps its rows, the run stops before dbt and publishing, and the published snapshot keeps its
build_id and content.

Runs on a copy of the real Ergast CSVs (seasons 2019-2020, which have laps and pit stops) or,
where the real data is absent, on a generated demo dump (2023-2024)."""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p3_common.settings import Settings
from p3_common.snapshot import read_snapshot
from p3_ingest.warehouse import raw_table_counts
from tests.dbt.conftest import build_graph_in, explicit_settings
from tests.fixtures.dumps import write_demo_dump
from tests.fixtures.real_data import real_ergast_dir

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("dbt_manifest")]

SNAPSHOT = dg.AssetKey(["serving", "warehouse_snapshot"])
# Everything up to publishing; the ML models need more seasons than these two to train.
PIPELINE = dg.AssetSelection.all() - dg.AssetSelection.groups("ml")


# -- the data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """A good dump, the seasons loaded from it, and the home holding its published snapshot."""

    dump: Path
    seasons: tuple[int, int]
    home: Path
    instance: dg.DagsterInstance

    @property
    def fault_season(self) -> int:
        return self.seasons[1]

    def settings(self, home: Path, dump: Path) -> Settings:
        first, last = self.seasons
        return explicit_settings(home, source="dump", ergast_dir=dump, seasons=f"{first}-{last}")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    root = tmp_path_factory.mktemp("corruption")
    real = real_ergast_dir()
    if real is not None:
        dump = Path(
            shutil.copytree(
                real, root / "dump", ignore=shutil.ignore_patterns("extra", "SHA256SUMS")
            )
        )
        seasons = (2019, 2020)
    else:
        dump, seasons = write_demo_dump(root / "dump"), (2023, 2024)
    base = Baseline(dump, seasons, root / "home", dg.DagsterInstance.ephemeral())
    result = build_graph_in(base.settings(base.home, dump), base.instance, PIPELINE)
    assert result.success, "the uncorrupted data must publish"
    return base


def rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        header, *body = list(csv.reader(handle))
    return header, body


def write_rows(path: Path, header: list[str], body: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)


def race_ids(dump: Path, season: int) -> set[str]:
    header, body = rows(dump / "races.csv")
    year, race = header.index("year"), header.index("raceId")
    return {row[race] for row in body if row[year] == str(season)}


def edit(table: str, column: str, value: str) -> Callable[[Path, int], None]:
    """Set ``column`` of the first row of ``table`` in the fault season to ``value``."""

    def inject(dump: Path, season: int) -> None:
        header, body = rows(dump / f"{table}.csv")
        races = race_ids(dump, season)
        index = next(i for i, row in enumerate(body) if row[header.index("raceId")] in races)
        body[index][header.index(column)] = value
        write_rows(dump / f"{table}.csv", header, body)

    return inject


def duplicate_a_row(table: str) -> Callable[[Path, int], None]:
    def inject(dump: Path, season: int) -> None:
        header, body = rows(dump / f"{table}.csv")
        races = race_ids(dump, season)
        row = next(r for r in body if r[header.index("raceId")] in races)
        write_rows(dump / f"{table}.csv", header, [*body, row])

    return inject


def drop_column(table: str, column: str) -> Callable[[Path, int], None]:
    def inject(dump: Path, season: int) -> None:
        header, body = rows(dump / f"{table}.csv")
        i = header.index(column)
        write_rows(
            dump / f"{table}.csv", header[:i] + header[i + 1 :], [r[:i] + r[i + 1 :] for r in body]
        )

    return inject


def truncate(table: str) -> Callable[[Path, int], None]:
    def inject(dump: Path, season: int) -> None:
        path = dump / f"{table}.csv"
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 2 // 3])  # cuts mid-row: the file ends abruptly

    return inject


def header_only(*tables: str) -> Callable[[Path, int], None]:
    def inject(dump: Path, season: int) -> None:
        for table in tables:
            header, _ = rows(dump / f"{table}.csv")
            write_rows(dump / f"{table}.csv", header, [])

    return inject


def cut_at_a_line_boundary(table: str, lines: int) -> Callable[[Path, int], None]:
    """Drop the last ``lines`` complete rows: a file cut short that still parses."""

    def inject(dump: Path, season: int) -> None:
        header, body = rows(dump / f"{table}.csv")
        write_rows(dump / f"{table}.csv", header, body[:-lines])

    return inject


def drop_the_last_race(table: str) -> Callable[[Path, int], None]:
    """Remove one past race's rows of ``table`` in the fault season, leaving the rest intact."""

    def inject(dump: Path, season: int) -> None:
        header, body = rows(dump / f"{table}.csv")
        races = race_ids(dump, season)
        race = str(max(int(r) for r in races))
        write_rows(
            dump / f"{table}.csv", header, [r for r in body if r[header.index("raceId")] != race]
        )

    return inject


def keep_a_fifth_of_the_season(table: str) -> Callable[[Path, int], None]:
    def inject(dump: Path, season: int) -> None:
        header, body = rows(dump / f"{table}.csv")
        races = race_ids(dump, season)
        in_season = [r for r in body if r[header.index("raceId")] in races]
        kept = {id(r) for r in in_season[: len(in_season) // 5]}
        others = [r for r in body if r[header.index("raceId")] not in races or id(r) in kept]
        write_rows(dump / f"{table}.csv", header, others)

    return inject


@dataclass(frozen=True)
class Case:
    """A fault, the load step it fails and what the failure says (the source's error, or the
    check that rejected the load before it committed)."""

    name: str
    inject: Callable[[Path, int], None]
    table: str
    message: str

    @property
    def failing_step(self) -> str:
        return f"raw__ergast__{self.table}"


CASES = [
    Case("duplicate_key", duplicate_a_row("results"), "results", "duplicate key"),
    Case("dangling_foreign_key", edit("results", "driverId", "987654"), "results",
         "results_ids_exist_in_parent_tables"),
    Case("negative_lap_time", edit("lap_times", "milliseconds", "-1500"), "lap_times",
         "lap_times_values_are_in_range"),
    Case("position_outside_the_grid", edit("results", "grid", "99"), "results",
         "results_values_are_in_range: grid between 0 and 40 (1 offending)"),
    Case("missing_column", drop_column("pit_stops", "duration"), "pit_stops",
         "missing columns ['duration']"),
    Case("truncated_file", truncate("qualifying"), "qualifying", "qualifying"),
    Case("season_with_most_rows_missing", keep_a_fifth_of_the_season("pit_stops"), "pit_stops",
         "pit_stops_row_count_did_not_drop_sharply"),
    Case("unknown_status_id", edit("results", "statusId", "4242"), "results",
         "results_ids_exist_in_parent_tables"),
    # Issue 16: empty or shrunken input must never replace good rows.
    Case("results_header_only", header_only("results"), "results",
         "results_row_count_did_not_drop_sharply"),
    Case("a_past_race_lost_its_results", drop_the_last_race("results"), "results",
         "results_is_complete: every race held 3 or more days ago has results (1 offending)"),
    Case("lap_times_cut_at_a_line_boundary", cut_at_a_line_boundary("lap_times", 522),
         "lap_times", "lap_times_is_complete"),
    Case("a_race_lost_its_standings", drop_the_last_race("driver_standings"), "driver_standings",
         "driver_standings_is_complete"),
]  # fmt: skip


def raw_counts(settings: Settings) -> dict[str, int]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return raw_table_counts(con)


def fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_fault_is_caught_and_the_published_snapshot_is_untouched(
    case: Case, baseline: Baseline, tmp_path: Path
) -> None:
    home = Path(shutil.copytree(baseline.home, tmp_path / "home"))
    dump = Path(shutil.copytree(baseline.dump, tmp_path / "dump"))
    settings = baseline.settings(home, dump)
    published = settings.serving_duckdb_path
    assert published is not None
    before, content = read_snapshot(published), fingerprint(published)
    case.inject(dump, baseline.fault_season)

    raw_before = raw_counts(settings)

    result = build_graph_in(settings, baseline.instance, PIPELINE)

    assert not result.success
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    errors = {e.step_key: e.step_failure_data.error.message.strip() for e in failures}
    assert list(errors) == [case.failing_step], errors
    assert case.message in str(failures[0].step_failure_data.error.to_string())
    assert raw_counts(settings) == raw_before, (
        "a rejected load must leave the raw tables as they were"
    )
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["raw", f"ergast__{case.table}"]) not in materialized
    assert SNAPSHOT not in materialized
    assert not any(key.path[0] == "marts" for key in materialized), "dbt must not run"
    assert read_snapshot(published) == before
    assert fingerprint(published) == content
