"""Quality-check benchmark: GX + DuckDB validation of every raw table of the real history.

python bench/quality.py [--repeat 5] [--ergast-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ERGAST_DIR = REPO_ROOT.parent / "shared" / "data" / "ergast"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--ergast-dir", type=Path, default=Path(os.environ.get("P3_ERGAST_DIR", DEFAULT_ERGAST_DIR))
    )
    args = parser.parse_args()
    if not (args.ergast_dir / "results.csv").is_file():
        sys.exit(f"real Ergast data not found in {args.ergast_dir}: set P3_ERGAST_DIR")

    started = time.perf_counter()
    import great_expectations  # noqa: F401  (the one-off import cost, reported separately)

    import_seconds = time.perf_counter() - started
    import duckdb

    from p3_common.ergast import TABLES
    from p3_ingest.ingest import ingest_table
    from p3_ingest.quality import validate_table
    from p3_ingest.sources.dump import DumpSource

    source = DumpSource(args.ergast_dir)
    with tempfile.TemporaryDirectory() as tmp, duckdb.connect(f"{tmp}/w.duckdb") as con:
        for table in TABLES:
            ingest_table(con, source, table, run_id="bench", seasons=source.seasons())
        validate_table(con, "seasons")  # warm GX's expectation registry
        samples: dict[str, list[float]] = {table: [] for table in TABLES}
        rows: dict[str, int] = {}
        for _ in range(args.repeat):
            for table in TABLES:
                t0 = time.perf_counter()
                report = validate_table(con, table)
                samples[table].append(time.perf_counter() - t0)
                rows[table] = report.rows_validated
                assert report.passed, table
    print(
        f"quality benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, {args.repeat} runs; GX import {import_seconds:.1f} s"
    )
    print("| table | rows | median (s) | min (s) |")
    print("| --- | ---: | ---: | ---: |")
    for table, values in samples.items():
        print(
            f"| {table} | {rows[table]:,} | {statistics.median(values):.2f} | {min(values):.2f} |"
        )
    total = sum(statistics.median(v) for v in samples.values())
    print(f"all tables (sum of medians): {total:.2f} s")


if __name__ == "__main__":
    main()
