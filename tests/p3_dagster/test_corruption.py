"""Corruption matrix: one fault per case in a copy of the source data; the named check (or the
source itself) fails, the run stops before dbt and publishing, and the published snapshot keeps
its build_id and content.

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
import pytest

from p3_common.settings import Settings
from p3_dagster.lib.publish import read_snapshot
from tests.dbt.conftest import build_graph_in, explicit_settings
from tests.fixtures.dumps import write_demo_dump
from tests.fixtures.real_data import real_ergast_dir

pytestmark = pytest.mark.slow

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
        dump = Path(shutil.copytree(real, root / "dump", ignore=shutil.ignore_patterns("extra")))
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
    """A fault and what must catch it: a named asset check, or the source failing the step."""

    name: str
    inject: Callable[[Path, int], None]
    failing_check: str | None = None
    failing_step: str | None = None
    message: str = ""


CASES = [
    Case("duplicate_key", duplicate_a_row("results"), failing_step="raw__ergast__results",
         message="duplicate key"),
    Case("dangling_foreign_key", edit("results", "driverId", "987654"),
         failing_check="results_ids_exist_in_parent_tables"),
    Case("negative_lap_time", edit("lap_times", "milliseconds", "-1500"),
         failing_check="lap_times_values_are_in_range"),
    Case("position_outside_the_grid", edit("results", "grid", "99"),
         failing_check="results_values_are_in_range"),
    Case("missing_column", drop_column("pit_stops", "duration"),
         failing_step="raw__ergast__pit_stops", message="missing columns ['duration']"),
    Case("truncated_file", truncate("qualifying"), failing_step="raw__ergast__qualifying",
         message="qualifying"),
    Case("season_with_most_rows_missing", keep_a_fifth_of_the_season("pit_stops"),
         failing_check="pit_stops_row_count_did_not_drop_sharply"),
    Case("unknown_status_id", edit("results", "statusId", "4242"),
         failing_check="results_ids_exist_in_parent_tables"),
]  # fmt: skip


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

    result = build_graph_in(settings, baseline.instance, PIPELINE)

    assert not result.success
    if case.failing_check:
        failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
        assert case.failing_check in failed
    if case.failing_step:
        failures = [
            e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE
        ]
        assert [e.step_key for e in failures] == [case.failing_step]
        assert case.message in str(failures[0].step_failure_data.error.to_string())
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert SNAPSHOT not in materialized
    assert not any(key.path[0] == "marts" for key in materialized), "dbt must not run"
    assert read_snapshot(published) == before
    assert fingerprint(published) == content
