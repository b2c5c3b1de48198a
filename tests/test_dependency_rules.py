"""The package dependency rule, checked on every import statement (including ones inside functions).

`p3_dagster -> p3_ingest, ml, p3_query, p3_api (the CLI), p3_common`; `p3_api -> p3_query, p3_common` (and `ml`
to load a model); `p3_ingest -> p3_common` (the pipeline's plain code: sources, loader, quality
suites, publish); `ml -> p3_common`; `p3_query -> p3_common` (the engine and cache the API
serves); `p3_live -> p3_common, ml` (the live streams; `p3_api` and `p3_dagster` may import it);
`p3_reports -> p3_query, p3_common, ml` (analyses and reports; `p3_dagster` imports it);
none of those imports Dagster or dbt;
`p3_common -> stdlib, pydantic and duckdb only` (duckdb for the snapshot contract's read-only
opener, `p3_common/snapshot.py`). Nothing outside `p3_dagster` imports it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIRST_PARTY = {
    "p3_common",
    "p3_ingest",
    "p3_query",
    "p3_api",
    "p3_dagster",
    "ml",
    "p3_live",
    "p3_reports",
}
ALLOWED_FIRST_PARTY = {
    "p3_common": {"p3_common"},
    "p3_ingest": {"p3_ingest", "p3_common"},
    # p3_live: the live routes read the race streams and states through its keys and models.
    "p3_api": {"p3_api", "p3_query", "p3_common", "ml", "p3_live"},
    "ml": {"ml", "p3_common"},
    "p3_query": {"p3_query", "p3_common"},
    # p3_live: plain stream-processing code; ml only to apply the in-race model.
    "p3_live": {"p3_live", "p3_common", "ml"},
    # p3_api: only the `p3` CLI, which mounts `p3 api-keys` (p3_api.cli imports no web framework).
    "p3_dagster": {
        "p3_dagster",
        "p3_ingest",
        "ml",
        "p3_query",
        "p3_api",
        "p3_common",
        "p3_live",
        "p3_reports",
    },
    # p3_reports: analyses and reports rendered from the snapshot; ml only to read predictions.
    "p3_reports": {"p3_reports", "p3_query", "p3_common", "ml"},
}
FORBIDDEN_THIRD_PARTY = {
    "p3_api": {"dagster", "dagster_dbt", "dbt"},
    "p3_ingest": {"dagster", "dagster_dbt", "dbt"},
    "ml": {"dagster", "dagster_dbt", "dbt"},
    "p3_query": {"dagster", "dagster_dbt", "dbt"},
    "p3_live": {"dagster", "dagster_dbt", "dbt"},
    "p3_reports": {"dagster", "dagster_dbt", "dbt"},
}
P3_COMMON_THIRD_PARTY = {"pydantic", "pydantic_settings", "duckdb"}


def imported_roots(path: Path) -> set[str]:
    """Top-level names of every absolute import in ``path``."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(ALLOWED_FIRST_PARTY))
def test_each_package_imports_only_what_the_rule_allows(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"no modules found under {package}/"
    broken = {}
    for path in files:
        roots = imported_roots(path)
        bad = (roots & FIRST_PARTY) - ALLOWED_FIRST_PARTY[package]
        bad |= roots & FORBIDDEN_THIRD_PARTY.get(package, set())
        if package == "p3_common":
            bad |= roots - FIRST_PARTY - set(sys.stdlib_module_names) - P3_COMMON_THIRD_PARTY
        if bad:
            broken[str(path.relative_to(REPO))] = sorted(bad)
    assert broken == {}


def test_the_rule_catches_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "sneaky.py"
    module.write_text("def f():\n    import dagster as dg\n    from p3_dagster.lib import x\n")
    assert imported_roots(module) == {"dagster", "p3_dagster"}
