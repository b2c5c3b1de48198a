"""The real Ergast history (1950-2024) loads completely: every raw table has exactly its file's row count."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from p3_common.ergast import TABLES
from p3_ingest.ingest import ingest_table
from p3_ingest.sources.dump import DumpSource
from p3_ingest.warehouse import raw_table_counts

pytestmark = [pytest.mark.real_data, pytest.mark.slow]


def file_rows(path: Path) -> int:
    """Data rows of a CSV file, counted with the stdlib reader (independent of the pyarrow parser)."""
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def load_everything(con: duckdb.DuckDBPyConnection, folder: Path, run_id: str) -> None:
    source = DumpSource(folder)
    seasons = source.seasons()
    for name in TABLES:
        ingest_table(con, source, name, run_id=run_id, seasons=seasons)


def test_every_raw_table_has_exactly_the_files_row_count(ergast_dir: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        load_everything(con, ergast_dir, "r1")
        counts = raw_table_counts(con)
    expected = {name: file_rows(ergast_dir / f"{name}.csv") for name in TABLES}
    assert counts == expected
    # The README's figures, so a silently truncated copy of the data cannot pass either.
    assert counts["results"] == 26_759
    assert counts["lap_times"] == 490_904  # top-level file only; extra/ is not read


def test_reloading_the_full_history_changes_nothing(ergast_dir: Path, tmp_path: Path) -> None:
    def fingerprint(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
        result = {}
        for spec in TABLES.values():
            cols = ", ".join(f'"{c}"' for c in spec.column_names)
            result[spec.name] = con.execute(
                f"SELECT count(*), sum(hash({cols})) FROM {spec.qualified_name}"
            ).fetchall()[0]
        return result

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        load_everything(con, ergast_dir, "r1")
        first = fingerprint(con)
        load_everything(con, ergast_dir, "r2")
        assert fingerprint(con) == first


def test_real_quirks_survive_typing(ergast_dir: Path) -> None:
    source = DumpSource(ergast_dir)
    laps = source.season_table("lap_times", 2011)
    # 2011 Canada's red-flag lap is over two hours and must keep its milliseconds.
    assert max(laps.column("milliseconds").to_pylist()) > 7_000_000
    quali = source.season_table("qualifying", 2024)
    assert quali.column("q3").null_count > 0  # empty strings and \N both become null
    results = source.season_table("results", 1953)
    pairs = list(zip(results["race_id"].to_pylist(), results["driver_id"].to_pylist(), strict=True))
    assert len(pairs) > len(set(pairs)), "shared drives repeat (race, driver); result_id is the key"
