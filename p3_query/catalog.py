"""What the planner knows about one published snapshot: table statistics and the entity dims."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import duckdb

from p3_common.snapshot import read_meta

from .registry import SOURCES, Entity
from .spec import QuerySpec, SpecError


@dataclass(frozen=True)
class EntityDim:
    """One entity's dimension: how ids, refs and display names map to each other."""

    entity: Entity
    table: str
    id_column: str
    by_ref: dict[str, int]
    labels: dict[int, tuple[str, str]]  # id -> (ref, name)

    def example_refs(self, n: int = 3) -> list[str]:
        """A few refs to show in error messages."""
        return sorted(self.by_ref)[:n]


# entity -> (dim table, id column, SQL of (id, ref, name)); refs are matched case-insensitively.
_DIMS: dict[Entity, tuple[str, str, str]] = {
    "driver": (
        "marts.dim_drivers",
        "driver_id",
        "select driver_id, lower(driver_ref), full_name from marts.dim_drivers",
    ),
    "constructor": (
        "marts.dim_constructors",
        "constructor_id",
        "select constructor_id, lower(constructor_ref), constructor_name"
        " from marts.dim_constructors",
    ),
    "circuit": (
        "marts.dim_circuits",
        "circuit_id",
        "select circuit_id, lower(circuit_ref), circuit_name from marts.dim_circuits",
    ),
    # A race's ref is "<season>-<round>".
    "race": (
        "marts.dim_races",
        "race_id",
        "select race_id, season || '-' || round, season || ' ' || race_name from marts.dim_races",
    ),
}


@dataclass(frozen=True)
class Catalog:
    """Statistics of a snapshot's tables and its entity dims, loaded once per build."""

    build_id: str
    row_counts: dict[str, int]
    season_ranges: dict[str, tuple[int, int]]
    dims: dict[Entity, EntityDim] = field(repr=False)

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> Catalog:
        """Read the build id and row counts (the snapshot's meta tables) and the dims."""
        meta = read_meta(con)
        build_id, row_counts = meta.build_id, dict(meta.tables)
        season_ranges: dict[str, tuple[int, int]] = {}
        for table in sorted({s.table for s in SOURCES if s.season_column}):
            if table not in row_counts:
                # Table names come from the registry, never from a user.
                row_counts[table] = int(_row(con, f"select count(*) from {table}")[0])
            low, high = _row(con, f"select min(season), max(season) from {table}")
            if low is not None:
                season_ranges[table] = (int(low), int(high))
        dims: dict[Entity, EntityDim] = {}
        for entity, (table, id_column, sql) in _DIMS.items():
            rows = con.execute(sql).fetchall()
            dims[entity] = EntityDim(
                entity=entity,
                table=table,
                id_column=id_column,
                by_ref={ref: int(i) for i, ref, _ in rows},
                labels={int(i): (ref, name) for i, ref, name in rows},
            )
        return cls(build_id, row_counts, season_ranges, dims)

    def resolve(self, spec: QuerySpec) -> QuerySpec:
        """The spec with every id an existing integer id; SpecError naming any unknown id."""
        dim = self.dims[spec.entity]
        resolved: list[int] = []
        for item in spec.ids:
            if isinstance(item, int):
                if item not in dim.labels:
                    raise SpecError(
                        f"unknown {spec.entity} id {item}: no {dim.id_column} {item} in {dim.table}"
                    )
                resolved.append(item)
                continue
            if item not in dim.by_ref:
                close = difflib.get_close_matches(item, list(dim.by_ref), n=3, cutoff=0.7)
                hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "."
                raise SpecError(
                    f"unknown {spec.entity} {item!r}{hint} Ids are {dim.id_column} integers or "
                    f"refs like {', '.join(repr(r) for r in dim.example_refs())}"
                    + (" ('<season>-<round>')" if spec.entity == "race" else "")
                )
            resolved.append(dim.by_ref[item])
        return spec.with_ids(resolved) if spec.has_refs else spec

    def entity_count(self, entity: Entity) -> int:
        """How many entities the dim holds (for id selectivity)."""
        return max(1, len(self.dims[entity].labels))

    def rows(self, table: str) -> int:
        """Row count of a table (0 if unknown)."""
        return self.row_counts.get(table, 0)


def _row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    # Aggregates without GROUP BY always return exactly one row.
    row = con.execute(sql).fetchone()
    assert row is not None, sql
    return row
