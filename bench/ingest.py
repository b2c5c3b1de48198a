"""Ingest benchmark: the full real Ergast history through the real raw assets vs a bare DuckDB read_csv.

Each measurement runs in a fresh subprocess (so peak RSS is its own), alternating the two cases
``--repeat`` times; the report gives medians and the ratio asset/bare from the same session.

    python bench/ingest.py [--repeat 5] [--ergast-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ERGAST_DIR = REPO_ROOT.parent / "shared" / "data" / "ergast"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_assets(ergast_dir: Path, workdir: Path, *, with_checks: bool = False) -> dict[str, float]:
    """Materialise every raw asset over every season in one in-process Dagster run (optionally
    with the blocking quality checks, as ``ingest_ergast_job`` runs them)."""
    os.environ.update(
        {"P3_SOURCE": "dump", "P3_ERGAST_DIR": str(ergast_dir), "P3_HOME": str(workdir)}
    )
    import dagster as dg

    from p3_common.settings import load_settings
    from p3_dagster.definitions import build_definitions

    settings = load_settings()
    rss_before = _peak_rss_mib()
    started = time.perf_counter()
    definitions = build_definitions(settings)
    selection = dg.AssetSelection.groups("ingestion")
    job = dg.define_asset_job(
        "bench_ingest", selection=selection if with_checks else selection.without_checks()
    )
    job = dg.Definitions.merge(definitions, dg.Definitions(jobs=[job])).resolve_job_def(
        "bench_ingest"
    )
    seasons = [str(s) for s in range(1950, 2025)]
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
        tags={
            "dagster/asset_partition_range_start": seasons[0],
            "dagster/asset_partition_range_end": seasons[-1],
        },
    )
    assert result.success
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_mib": _peak_rss_mib(),
        "rss_before_mib": rss_before,
    }


def run_bare(ergast_dir: Path, workdir: Path) -> dict[str, float]:
    """The floor: DuckDB's own CSV reader, one CREATE TABLE AS per file, no typing or checks of ours."""
    import duckdb

    from p3_common.ergast import TABLES

    rss_before = _peak_rss_mib()
    started = time.perf_counter()
    with duckdb.connect(str(workdir / "bare.duckdb")) as con:
        for name in TABLES:
            path = str(ergast_dir / f"{name}.csv")
            con.execute(
                f"CREATE TABLE {name} AS SELECT * FROM read_csv(?, header = true, nullstr = '\\N')",
                [path],
            )
    return {
        "seconds": time.perf_counter() - started,
        "peak_rss_mib": _peak_rss_mib(),
        "rss_before_mib": rss_before,
    }


def _child(case: str, ergast_dir: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--child", case, "--ergast-dir", str(ergast_dir)]
        out = subprocess.run(
            cmd, check=True, capture_output=True, text=True, env=os.environ | {"P3_TMP": tmp}
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--ergast-dir", type=Path, default=Path(os.environ.get("P3_ERGAST_DIR", DEFAULT_ERGAST_DIR))
    )
    parser.add_argument(
        "--child", choices=["assets", "assets+checks", "bare"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if not (args.ergast_dir / "results.csv").is_file():
        sys.exit(f"real Ergast data not found in {args.ergast_dir}: set P3_ERGAST_DIR")

    if args.child:
        workdir = Path(os.environ["P3_TMP"])
        if args.child == "bare":
            measured = run_bare(args.ergast_dir, workdir)
        else:
            measured = run_assets(args.ergast_dir, workdir, with_checks=args.child != "assets")
        print(json.dumps(measured))
        return

    samples: dict[str, list[dict[str, float]]] = {"assets": [], "assets+checks": [], "bare": []}
    for _ in range(args.repeat):
        for case in samples:
            samples[case].append(_child(case, args.ergast_dir))
    median = {
        case: {k: statistics.median(s[k] for s in runs) for k in runs[0]}
        for case, runs in samples.items()
    }
    ratio = median["assets"]["seconds"] / median["bare"]["seconds"]
    ratio_checked = median["assets+checks"]["seconds"] / median["bare"]["seconds"]
    print(
        f"ingest benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {args.repeat} runs each"
    )
    print("| case | median wall time (s) | min (s) | peak RSS (MiB) | RSS before load (MiB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for case, runs in samples.items():
        print(
            f"| {case} | {median[case]['seconds']:.2f} | {min(s['seconds'] for s in runs):.2f} | "
            f"{median[case]['peak_rss_mib']:.0f} | {median[case]['rss_before_mib']:.0f} |"
        )
    print(f"ratio assets / bare DuckDB (median wall time): {ratio:.2f}x")
    print(f"ratio assets+checks / bare DuckDB (median wall time): {ratio_checked:.2f}x")


if __name__ == "__main__":
    main()
