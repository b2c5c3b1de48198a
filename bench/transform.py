"""Transform benchmark: `dbt build` of the real history through Dagster vs the same SQL run directly.

Setup (not timed): the full real Ergast history is loaded into a fresh warehouse and the dbt
project is compiled. Then, alternating ``--repeat`` times in the same session:

- ``dagster``: the dbt models asset materialised in-process (``dbt build``: models and tests);
- ``dbt run``: plain dbt (seed + run: models only, no tests, no Dagster);
- ``direct``: the compiled SQL of the same models executed in dependency order on one DuckDB
  connection (no tests, no dbt or Dagster overhead) — the floor.

    python bench/transform.py [--repeat 3] [--ergast-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from graphlib import TopologicalSorter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ERGAST_DIR = REPO_ROOT.parent / "shared" / "data" / "ergast"


def load_raw(ergast_dir: Path, warehouse: Path) -> None:
    import duckdb

    from p3_common.ergast import TABLES
    from p3_ingest.ingest import ingest_table
    from p3_ingest.sources.dump import DumpSource

    source = DumpSource(ergast_dir)
    with duckdb.connect(str(warehouse)) as con:
        for table in TABLES:
            ingest_table(con, source, table, run_id="bench", seasons=source.seasons())


def compile_project(target_path: Path) -> dict:
    project = REPO_ROOT / "dbt_project"
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [str(dbt), "compile", "--quiet", "--target-path", str(target_path)],
        cwd=project,
        check=True,
    )
    return json.loads((target_path / "manifest.json").read_text())


def run_dagster() -> float:
    import dagster as dg

    from p3_common.settings import load_settings
    from p3_dagster.definitions import build_definitions

    definitions = build_definitions(load_settings())
    job = dg.define_asset_job(
        "bench_dbt",
        selection=dg.AssetSelection.groups(
            "staging", "intermediate", "marts", "seeds", "transform"
        ),
    )
    resolved = dg.Definitions.merge(definitions, dg.Definitions(jobs=[job])).resolve_job_def(
        "bench_dbt"
    )
    started = time.perf_counter()
    # dagster-dbt echoes every dbt log line to stdout; keep the report readable.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        result = resolved.execute_in_process(
            instance=dg.DagsterInstance.ephemeral(),
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
        )
    elapsed = time.perf_counter() - started
    assert result.success
    return elapsed


def run_dbt_models(target_path: Path) -> float:
    """Plain ``dbt run`` (models and seeds, no tests, no Dagster): what dbt itself costs."""
    dbt = Path(sys.executable).parent / "dbt"
    started = time.perf_counter()
    for command in (["seed"], ["run"]):
        subprocess.run(
            [str(dbt), *command, "--quiet", "--target-path", str(target_path)],
            cwd=REPO_ROOT / "dbt_project",
            check=True,
        )
    return time.perf_counter() - started


def run_direct(manifest: dict, warehouse: Path) -> float:
    """Execute every model's and seed's compiled SQL in dependency order on one connection."""
    import duckdb

    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in {"model", "seed"}
    }
    order = TopologicalSorter(
        {
            uid: [d for d in node.get("depends_on", {}).get("nodes", []) if d in nodes]
            for uid, node in nodes.items()
        }
    ).static_order()
    started = time.perf_counter()
    with duckdb.connect(str(warehouse)) as con:
        for uid in order:
            node = nodes[uid]
            relation = f'"{node["schema"]}"."{node["alias"]}"'
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{node["schema"]}"')
            if node["resource_type"] == "seed":
                path = REPO_ROOT / "dbt_project" / node["original_file_path"]
                con.execute(
                    f"CREATE OR REPLACE TABLE {relation} AS SELECT * FROM read_csv(?)", [str(path)]
                )
                continue
            kind = "VIEW" if node["config"]["materialized"] == "view" else "TABLE"
            existing = con.execute(
                "SELECT 'TABLE' FROM duckdb_tables() WHERE schema_name = $s AND table_name = $t "
                "UNION ALL SELECT 'VIEW' FROM duckdb_views() "
                "WHERE schema_name = $s AND view_name = $t AND NOT internal",
                {"s": node["schema"], "t": node["alias"]},
            ).fetchall()
            if existing:
                con.execute(f"DROP {existing[0][0]} {relation}")
            con.execute(f"CREATE {kind} {relation} AS {node['compiled_code']}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--ergast-dir", type=Path, default=Path(os.environ.get("P3_ERGAST_DIR", DEFAULT_ERGAST_DIR))
    )
    args = parser.parse_args()
    if not (args.ergast_dir / "results.csv").is_file():
        sys.exit(f"real Ergast data not found in {args.ergast_dir}: set P3_ERGAST_DIR")

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ.update(
            {"P3_HOME": str(home), "P3_SOURCE": "dump", "P3_ERGAST_DIR": str(args.ergast_dir)}
        )
        os.environ["P3_DUCKDB_PATH"] = str(home / "warehouse.duckdb")
        load_raw(args.ergast_dir, home / "warehouse.duckdb")
        manifest = compile_project(home / "dbt_target")
        models = sum(1 for n in manifest["nodes"].values() if n["resource_type"] == "model")
        tests = sum(1 for n in manifest["nodes"].values() if n["resource_type"] == "test")
        samples: dict[str, list[float]] = {"dagster": [], "dbt run": [], "direct": []}
        for _ in range(args.repeat):
            samples["dagster"].append(run_dagster())
            samples["dbt run"].append(run_dbt_models(home / "dbt_target"))
            samples["direct"].append(run_direct(manifest, home / "warehouse.duckdb"))

    median = {case: statistics.median(values) for case, values in samples.items()}
    print(
        f"transform benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {args.repeat} runs each; "
        f"{models} models, {tests} dbt tests, real data 1950-2024"
    )
    print("| case | median (s) | min (s) | max (s) |")
    print("| --- | ---: | ---: | ---: |")
    for case, values in samples.items():
        print(f"| {case} | {median[case]:.2f} | {min(values):.2f} | {max(values):.2f} |")
    print(f"ratio dagster / direct (median): {median['dagster'] / median['direct']:.1f}x")
    print(f"ratio dbt run / direct (median): {median['dbt run'] / median['direct']:.1f}x")


if __name__ == "__main__":
    main()
