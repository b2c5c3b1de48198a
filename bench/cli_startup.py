"""Start-up cost of the ``p3`` command line: what ``p3 query`` / ``p3 cache`` pay before any work.

Each case is a fresh interpreter importing one module, run alternately, medians reported:

- ``p3_dagster.cli``: what every ``p3`` command imports now (Typer, the query engine, the cache);
- ``p3_dagster.materialize``: Dagster, dagster-dbt and the definitions, which ``p3_dagster.cli``
  imported for every command before the materialize machinery moved out of it.

    python bench/cli_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "p3 CLI (p3_dagster.cli)": "p3_dagster.cli",
    "with Dagster (p3_dagster.materialize)": "p3_dagster.materialize",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, module in CASES.items():
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO_ROOT, check=True)
            seconds[name].append(time.perf_counter() - started)
    for name, values in seconds.items():
        print(f"{name}: median {statistics.median(values):.2f} s "
              f"(min {min(values):.2f}, max {max(values):.2f}, {args.runs} runs)")  # fmt: skip
    cli, dagster = (statistics.median(v) for v in seconds.values())
    print(f"ratio: {dagster / cli:.1f}x faster start-up")


if __name__ == "__main__":
    main()
