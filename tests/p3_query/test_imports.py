"""p3_query stays importable without Dagster or MLflow (the API image has neither), and so does
the `p3` command line until a command needs them."""

from __future__ import annotations

import subprocess
import sys

MODULES = [
    "p3_query",
    "p3_query.spec",
    "p3_query.registry",
    "p3_query.catalog",
    "p3_query.planner",
    "p3_query.result",
    "p3_query.analysis",
    "p3_query.engine",
    "p3_query.formats",
    "p3_query.cli",
    "p3_query.cache",
    "p3_query.cache.cli",
    "p3_query.cache.engine_adapter",
    # The `p3` entry point: `p3 query` and `p3 cache` must not pay for importing Dagster.
    "p3_dagster.cli",
]


def test_the_query_engine_and_the_cli_import_without_dagster_dbt_or_mlflow() -> None:
    code = (
        f"import sys\nfor m in {MODULES!r}: __import__(m)\n"
        "from p3_query import Engine, QueryResult, render\n"
        "heavy = {'dagster', 'dagster_dbt', 'dbt', 'mlflow'}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
