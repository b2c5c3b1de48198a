"""What a ``dbt build`` must redo: the raw tables whose contents changed since the last complete
build, and only the dbt nodes downstream of them.

After each complete, successful build the dbt asset records in the warehouse the project's
manifest key and a content fingerprint of every raw table dbt reads (``p3_meta.dbt_build_state``).
The next build compares: with the same project, a model none of whose raw tables changed holds
exactly what it held (same SQL, same inputs), and so does each test whose models are all
unchanged; the unit tests, which read fixed fixture rows, give the result they gave. Everything
else runs. A changed project, a missing state, or ``only_changed=False`` builds everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from p3_common.ergast import LOADED_AT_COLUMN, RUN_ID_COLUMN

STATE_SCHEMA = "p3_meta"
STATE_TABLE = "dbt_build_state"

# Loader bookkeeping that changes on every load of identical rows; not content.
VOLATILE_COLUMNS = frozenset({LOADED_AT_COLUMN, RUN_ID_COLUMN})


@dataclass(frozen=True)
class BuildState:
    """The project a build ran and the content of each raw table (``schema.table``) it read."""

    project_key: str
    sources: Mapping[str, str]


@dataclass(frozen=True)
class BuildPlan:
    """What to run: ``exclude`` (dbt node names) is empty for a full build."""

    full: bool
    reason: str
    changed_sources: frozenset[str] = frozenset()
    # Models and seeds not rebuilt (unique ids), upstream before downstream.
    unchanged_nodes: tuple[str, ...] = ()
    exclude: tuple[str, ...] = field(default_factory=tuple)

    @property
    def nothing_to_do(self) -> bool:
        """No raw table changed: every model and test stands as the last build left it."""
        return not self.full and not self.changed_sources


def source_relations(manifest: Mapping[str, Any]) -> dict[str, str]:
    """``schema.table`` of each dbt source, by unique id."""
    return {
        uid: f"{props['schema']}.{props.get('identifier') or props['name']}"
        for uid, props in (manifest.get("sources") or {}).items()
    }


def source_fingerprints(warehouse: Path, relations: Iterable[str]) -> dict[str, str]:
    """A fingerprint of each ``schema.table``'s rows (all columns but the loader's timestamps and
    run id), independent of row order; a missing table has none. One aggregate per table."""
    wanted = sorted(set(relations))
    if not warehouse.exists():
        return {}
    found: dict[str, str] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns: dict[str, list[str]] = {}
        for schema, table, column in con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where database_name = current_database() order by column_index"
        ).fetchall():
            if f"{schema}.{table}" in wanted and column not in VOLATILE_COLUMNS:
                columns.setdefault(f"{schema}.{table}", []).append(f'"{column}"')
        for relation in wanted:
            if relation not in columns:
                continue
            schema, table = relation.split(".", 1)
            row = con.execute(
                f"select count(*), coalesce(sum(hash({', '.join(columns[relation])})::hugeint), 0) "
                f'from "{schema}"."{table}"'
            ).fetchone()
            found[relation] = f"{row[0]}:{row[1]}" if row else ""
    return found


def read_state(warehouse: Path) -> BuildState | None:
    """The state the last complete build recorded in ``warehouse``, if any."""
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        exists = con.execute(
            "select count(*) from duckdb_tables() where database_name = current_database() "
            "and schema_name = ? and table_name = ?",
            [STATE_SCHEMA, STATE_TABLE],
        ).fetchone()
        if not exists or not exists[0]:
            return None
        rows = con.execute(
            f"select project_key, source, fingerprint from {STATE_SCHEMA}.{STATE_TABLE}"
        ).fetchall()
    keys = {key for key, _, _ in rows}
    if len(keys) != 1:
        return None
    return BuildState(project_key=keys.pop(), sources={s: f for _, s, f in rows if s})


def write_state(warehouse: Path, state: BuildState) -> None:
    """Record ``state`` as the last complete build's (one transaction)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("begin transaction")
        con.execute(f"create schema if not exists {STATE_SCHEMA}")
        con.execute(
            f"create or replace table {STATE_SCHEMA}.{STATE_TABLE} "
            "(project_key varchar not null, source varchar, fingerprint varchar, "
            "built_at timestamptz not null default current_timestamp)"
        )
        rows = [(state.project_key, s, f) for s, f in sorted(state.sources.items())]
        con.executemany(
            f"insert into {STATE_SCHEMA}.{STATE_TABLE} (project_key, source, fingerprint) "
            "values (?, ?, ?)",
            rows or [(state.project_key, None, None)],
        )
        con.execute("commit")


def plan_build(
    manifest: Mapping[str, Any],
    previous: BuildState | None,
    current: BuildState,
    *,
    only_changed: bool = True,
) -> BuildPlan:
    """The nodes a build must run, given the last complete build's state and the current one."""
    if not only_changed:
        return BuildPlan(full=True, reason="everything requested (only_changed off)")
    if previous is None:
        return BuildPlan(full=True, reason="no complete build recorded in this warehouse")
    if previous.project_key != current.project_key:
        return BuildPlan(full=True, reason="the dbt project changed since the last complete build")
    relations = source_relations(manifest)
    changed = {
        uid
        for uid, relation in relations.items()
        if relation not in current.sources
        or previous.sources.get(relation) != current.sources[relation]
    }
    nodes = manifest.get("nodes") or {}
    affected = _descendants(manifest.get("child_map") or {}, changed) | changed
    unchanged = {
        uid
        for uid, node in nodes.items()
        if node["resource_type"] in ("model", "seed", "snapshot") and uid not in affected
    }
    parent_map = manifest.get("parent_map") or {}
    unchanged_tests = {
        uid
        for uid, node in nodes.items()
        if node["resource_type"] == "test"
        and not any(parent in affected for parent in parent_map.get(uid, []))
    }
    exclude = ("resource_type:unit_test",) + tuple(
        sorted(nodes[uid]["name"] for uid in unchanged | unchanged_tests)
    )
    names = sorted(relations[uid] for uid in changed)
    return BuildPlan(
        full=False,
        reason=(
            f"changed since the last complete build: {', '.join(names)}"
            if names
            else "no raw table changed since the last complete build"
        ),
        changed_sources=frozenset(relations[uid] for uid in changed),
        unchanged_nodes=_in_dependency_order(manifest.get("child_map") or {}, unchanged),
        exclude=exclude,
    )


def _in_dependency_order(
    child_map: Mapping[str, Iterable[str]], nodes: set[str]
) -> tuple[str, ...]:
    """``nodes``, each after every one of them upstream of it (Dagster takes a multi-asset's
    outputs only in that order); ties by unique id, so the order is stable."""
    parents: dict[str, set[str]] = {uid: set() for uid in nodes}
    for parent, children in child_map.items():
        for child in children:
            if parent in nodes and child in nodes:
                parents[child].add(parent)
    ordered: list[str] = []
    ready = sorted(uid for uid, ups in parents.items() if not ups)
    while ready:
        uid = ready.pop(0)
        ordered.append(uid)
        for child in sorted(child_map.get(uid, [])):
            if child in parents and uid in parents[child]:
                parents[child].discard(uid)
                if not parents[child]:
                    ready.append(child)
        ready.sort()
    return tuple(ordered)


def _descendants(child_map: Mapping[str, Iterable[str]], roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        for child in child_map.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen
