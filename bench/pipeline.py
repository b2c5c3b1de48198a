"""Pipeline benchmark on the real Ergast history: the whole graph cold, one new race, start-up.

Each case is a real ``p3 materialize`` in a fresh process on a fresh P3_HOME (its own warehouse,
Dagster instance and cache), selecting what issue #17 measures: ingest -> blocking checks ->
``dbt build`` with every test -> publish -> cache warm, ML excluded. Per round and per variant:

- ``cold``: the whole history 1950-2024 into an empty home, start-up included;
- ``new race``: then, in that warm home, the sensor's path for one new race: its season (the
  latest) reloaded with its checks, dbt, publish and the cache flip (``P3_SEASONS=<season>``).
  The cold run loads a copy of the dump without the latest race (its rows in every race-scoped
  file), the new-race run the whole dump, so the reloaded season really has one race more (a
  reload of identical rows would let a build that skips unchanged inputs do nothing);
- ``start-up``: from process start to the first step's start line (part of ``cold``);
- ``peak RSS``: of the ``p3 materialize`` process (``wait4``), and CPU seconds;
- ``bare DuckDB``: the floor, every CSV loaded by DuckDB's ``read_csv`` into a fresh file.

``--baseline REV`` runs that commit's code (``git archive`` into a temporary folder, same venv)
in alternation with the working tree, so both are measured under the same machine load; the
report gives medians and current/baseline ratios. ``--current REV`` measures a commit instead of
the working tree (exported the same way), so that edits made while the rounds run, one's own or
other engineers' uncommitted ones, do not leak into the measurement. ``--cases`` picks the cases.

    python bench/pipeline.py [--rounds 3] [--baseline REV] [--current REV] [--cases cold,new-race]
        [--ergast-dir DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ERGAST_DIR = REPO_ROOT.parent / "shared" / "data" / "ergast"
SELECTION = "group:ingestion or group:staging or group:intermediate or group:marts or group:serving"
NEW_RACE_SEASON = "2024"
FIRST_STEP = "▶"


@dataclass
class Run:
    """One ``p3 materialize`` process: wall seconds, start-up to first step, CPU, peak RSS."""

    wall: float
    first_step: float | None
    cpu: float
    peak_rss_mib: float
    ok: bool
    tail: str = ""


@dataclass
class Variant:
    """A version of the code: the working tree, or a baseline commit exported to a folder."""

    name: str
    root: Path
    runs: dict[str, list[Run]] = field(default_factory=lambda: {"cold": [], "new race": []})


def variant_env(variant: Variant, home: Path, ergast_dir: Path) -> dict[str, str]:
    """The environment of a process running ``variant``'s code on the dump in ``home``: none of
    this shell's P3, Dagster or MLflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("P3_", "DAGSTER_", "MLFLOW_"))}
    return env | {
        "P3_HOME": str(home),
        "P3_SOURCE": "dump",
        "P3_ERGAST_DIR": str(ergast_dir),
        # The variant's packages before the venv's editable install of the working tree.
        "PYTHONPATH": str(variant.root),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def materialize(variant: Variant, home: Path, ergast_dir: Path, seasons: str | None) -> Run:
    """``p3 materialize --select SELECTION`` in a fresh process running ``variant``'s code."""
    env = variant_env(variant, home, ergast_dir) | {"COLUMNS": "200"}
    if seasons:
        env["P3_SEASONS"] = seasons
    command = [sys.executable, "-c", "from p3_dagster.cli import app; app()"]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "materialize", "--select", SELECTION],
        cwd=variant.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first_step = None
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if first_step is None and FIRST_STEP in line:
            first_step = time.perf_counter() - started
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    return Run(
        wall=wall,
        first_step=first_step,
        cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss / 1024,
        ok=os.waitstatus_to_exitcode(status) == 0,
        tail="".join(lines[-15:]),
    )


def prepare_manifest(variant: Variant, home: Path, ergast_dir: Path) -> None:
    """Parse ``variant``'s dbt manifest once before the rounds, as the Docker image ships it
    prepared (a variant without ``prepare_manifest`` parses on every start, as it did)."""
    env = variant_env(variant, home, ergast_dir)
    script = (
        "from p3_common.settings import get_settings\n"
        "try:\n"
        "    from p3_dagster.lib.dbt import prepare_manifest\n"
        "except ImportError:\n"
        "    raise SystemExit(0)\n"
        "prepare_manifest(get_settings())\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=variant.root, env=env, check=True)


def dump_without_latest_race(ergast_dir: Path, into: Path) -> int:
    """A copy of the dump in ``into`` without the latest race that has results; returns its id.

    Lines are copied as they are (same quoting and null markers); the checksum list is left out,
    since the trimmed files no longer match it.
    """
    with (ergast_dir / "races.csv").open(newline="") as f:
        races = {int(r["raceId"]): (int(r["year"]), int(r["round"])) for r in csv.DictReader(f)}
    with (ergast_dir / "results.csv").open(newline="") as f:
        raced = {int(r["raceId"]) for r in csv.DictReader(f)}
    latest = max(raced & races.keys(), key=races.__getitem__)
    into.mkdir(parents=True, exist_ok=True)
    for source in sorted(ergast_dir.glob("*.csv")):
        with source.open(newline="") as f:
            header = f.readline()
            column = next(csv.reader([header])).index("raceId") if "raceId" in header else None
            with (into / source.name).open("w", newline="") as out:
                out.write(header)
                for line in f:
                    if column is None or int(next(csv.reader([line]))[column]) != latest:
                        out.write(line)
    return latest


def bare_duckdb(ergast_dir: Path, workdir: Path) -> float:
    """Seconds for DuckDB alone to load every CSV into a fresh file (a fresh process)."""
    database = workdir / "bare.duckdb"
    database.unlink(missing_ok=True)
    script = (
        "import duckdb, pathlib, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "for csv in sorted(pathlib.Path(sys.argv[2]).glob('*.csv')):\n"
        "    con.execute(f\"create table {csv.stem} as select * from read_csv('{csv}', "
        "nullstr='\\\\N')\")\n"
        "con.close()\n"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", script, str(database), str(ergast_dir)], check=True)
    return time.perf_counter() - started


def export_revision(rev: str, into: Path) -> Path:
    """The tree of commit ``rev`` extracted into ``into`` (nothing in the checkout changes)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(variants: list[Variant], bare: list[float], rounds: int) -> str:
    """Markdown: medians per case and variant, and current/baseline ratios."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Pipeline benchmark ({now})",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.python_version()}, "
        f"load average at the end {os.getloadavg()[0]:.1f}. Real Ergast history 1950-2024; "
        f"selection `{SELECTION}`; {rounds} alternating rounds, medians (min-max).",
        "",
        "| case | " + " | ".join(v.name for v in variants) + " |",
        "| --- | " + " | ".join("---" for _ in variants) + " |",
    ]

    def cell(values: list[float], unit: str) -> str:
        if not values:
            return "n/a"
        return f"{median(values):.1f} {unit} ({min(values):.1f}-{max(values):.1f})"

    rows = [
        ("cold, whole graph (wall)", "cold", lambda r: r.wall, "s"),
        ("  start-up to first step", "cold", lambda r: r.first_step, "s"),
        ("  CPU seconds", "cold", lambda r: r.cpu, "s"),
        ("  peak RSS", "cold", lambda r: r.peak_rss_mib, "MiB"),
        (f"new race ({NEW_RACE_SEASON} reloaded, warm home)", "new race", lambda r: r.wall, "s"),
        ("  start-up to first step", "new race", lambda r: r.first_step, "s"),
        ("  CPU seconds", "new race", lambda r: r.cpu, "s"),
        ("  peak RSS", "new race", lambda r: r.peak_rss_mib, "MiB"),
    ]
    for label, case, pick, unit in rows:
        cells = []
        for variant in variants:
            values = [pick(r) for r in variant.runs[case] if r.ok and pick(r) is not None]
            cells.append(cell(values, unit))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(f"| bare DuckDB: every CSV loaded | {cell(bare, 's')} |")
    if len(variants) == 2:
        base, current = variants
        lines += ["", f"Ratios {current.name} / {base.name} (medians):", ""]
        for case in ("cold", "new race"):
            b = median([r.wall for r in base.runs[case] if r.ok])
            c = median([r.wall for r in current.runs[case] if r.ok])
            lines.append(f"- {case}: {c / b:.2f} ({b / c:.1f}x faster)")
    failed = [
        (v.name, case) for v in variants for case, runs in v.runs.items() for r in runs if not r.ok
    ]
    if failed:
        lines += ["", f"Failed runs (left out of the medians): {failed}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", help="a git revision to compare with, e.g. HEAD~3")
    parser.add_argument(
        "--current", help="a git revision to measure instead of the working tree, e.g. HEAD"
    )
    parser.add_argument(
        "--cases",
        default="cold,new-race",
        help="comma-separated: cold, new-race (new-race runs in the home the cold run built)",
    )
    parser.add_argument("--ergast-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "pipeline.md")
    args = parser.parse_args()
    ergast_dir = args.ergast_dir or Path(os.environ.get("P3_ERGAST_DIR") or DEFAULT_ERGAST_DIR)
    if not (ergast_dir / "results.csv").exists():
        sys.exit(f"bench/pipeline.py: no Ergast CSVs in {ergast_dir} (set P3_ERGAST_DIR)")
    with tempfile.TemporaryDirectory(prefix="p3-bench-pipeline-") as scratch:
        workdir = Path(scratch)
        variants = [Variant("current", REPO_ROOT)]
        if args.current:
            root = export_revision(args.current, workdir / "current-code")
            variants = [Variant(f"current {args.current}", root)]
        if args.baseline:
            root = export_revision(args.baseline, workdir / "baseline-code")
            variants.insert(0, Variant(f"baseline {args.baseline}", root))
        bare = []
        before_latest = workdir / "ergast-without-latest-race"
        latest = dump_without_latest_race(ergast_dir, before_latest)
        print(f"cold runs load {before_latest} (race {latest} left out)", flush=True)
        cases = (("cold", None, before_latest), ("new race", NEW_RACE_SEASON, ergast_dir))
        wanted = set(args.cases.split(","))
        if not wanted <= {"cold", "new-race"}:
            sys.exit(f"bench/pipeline.py: unknown cases {sorted(wanted - {'cold', 'new-race'})}")
        for variant in variants:
            prepare_manifest(variant, workdir / "prepare", ergast_dir)
        for round_ in range(1, args.rounds + 1):
            for variant in variants:
                home = workdir / f"home-{round_}-{variants.index(variant)}"
                for case, seasons, dump in cases:
                    if case.replace(" ", "-") not in wanted:
                        if case == "cold":  # the new-race run needs the home a cold run built
                            materialize(variant, home, dump, seasons)
                        continue
                    run = materialize(variant, home, dump, seasons)
                    variant.runs[case].append(run)
                    print(
                        f"round {round_} {variant.name} {case}: {run.wall:.1f} s, first step "
                        f"{run.first_step or float('nan'):.1f} s, CPU {run.cpu:.1f} s, "
                        f"{run.peak_rss_mib:.0f} MiB"
                        + ("" if run.ok else f", FAILED:\n{run.tail}"),
                        flush=True,
                    )
                shutil.rmtree(home, ignore_errors=True)
            bare.append(bare_duckdb(ergast_dir, workdir))
        text = report(variants, bare, args.rounds)
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
