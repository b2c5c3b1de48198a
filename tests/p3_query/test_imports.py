"""p3_query stays importable without Dagster (the API image has no dagster or dbt)."""

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
]


def test_the_query_engine_imports_without_dagster_or_dbt() -> None:
    code = (
        f"import sys\nfor m in {MODULES!r}: __import__(m)\n"
        "from p3_query import Engine, QueryResult, render\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'dagster', 'dagster_dbt', 'dbt'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
