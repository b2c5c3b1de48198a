"""A dict-backed ``WarehouseCatalog``: an in-memory warehouse, for tests and first loads."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from p3_common.ergast import TABLES

from . import schema

# Natural ref column -> id column of the tables the API names by string.
REF_COLUMNS: dict[str, tuple[str, str]] = {
    "circuits": ("circuit_ref", "circuit_id"),
    "constructors": ("constructor_ref", "constructor_id"),
    "drivers": ("driver_ref", "driver_id"),
    "status": ("status", "status_id"),
}


class InMemoryCatalog:
    """A real ``WarehouseCatalog`` over tables kept in memory.

    Feed it what a loader would write: ``put_reference`` for unpartitioned tables and
    ``put_season`` for one season partition (replacing it, as the loader does). Every answer is
    derived from those rows, so a test can load, record and load again like a pipeline would.
    ``InMemoryCatalog()`` is the empty warehouse.
    """

    def __init__(self) -> None:
        self._reference: dict[str, pa.Table] = {}
        self._seasons: dict[tuple[str, int], pa.Table] = {}

    def put_reference(self, table: str, rows: pa.Table) -> None:
        """Store a whole reference table (circuits, constructors, drivers, seasons, status)."""
        if TABLES[table].season_scoped:
            raise ValueError(f"{table!r} is season-scoped; use put_season")
        self._reference[table] = schema.conform(rows, table, source="jolpica", where="catalog")

    def put_season(self, table: str, season: int, rows: pa.Table) -> None:
        """Replace the ``season`` partition of a race-scoped table."""
        if not TABLES[table].season_scoped:
            raise ValueError(f"{table!r} is a reference table; use put_reference")
        self._seasons[(table, season)] = schema.conform(
            rows, table, source="jolpica", where="catalog"
        )

    # -- WarehouseCatalog

    def ref_ids(self, table: str) -> dict[str, int]:
        """Natural ref -> id for circuits/constructors/drivers; status text -> id for status."""
        ref_col, id_col = REF_COLUMNS[table]
        rows = self._reference.get(table)
        if rows is None:
            return {}
        return dict(zip(rows[ref_col].to_pylist(), rows[id_col].to_pylist(), strict=True))

    def race_ids(self, season: int) -> dict[int, int]:
        """Round -> race_id of the season's loaded races."""
        races = self._seasons.get(("races", season))
        if races is None:
            return {}
        return dict(zip(races["round"].to_pylist(), races["race_id"].to_pylist(), strict=True))

    def max_id(self, table: str, column: str) -> int:
        """Largest value of ``column`` over the whole table (every season), 0 when empty."""
        if TABLES[table].season_scoped:
            parts = [t for (name, _), t in self._seasons.items() if name == table]
        else:
            parts = [self._reference[table]] if table in self._reference else []
        best = 0
        for part in parts:
            if part.num_rows:
                best = max(best, pc.max(part[column]).as_py() or 0)
        return best

    def loaded_rounds(self, table: str, season: int) -> set[int]:
        """Rounds of ``season`` for which ``table`` holds rows."""
        rows = self._seasons.get((table, season))
        if rows is None or rows.num_rows == 0:
            return set()
        if table == "races":
            return set(rows["round"].to_pylist())
        round_of = {race_id: rnd for rnd, race_id in self.race_ids(season).items()}
        race_ids = set(rows["race_id"].to_pylist())
        return {round_of[r] for r in race_ids if r in round_of}

    def existing_rows(self, table: str, season: int) -> pa.Table:
        """The loaded rows of one season partition (an empty contract table when none)."""
        return self._seasons.get((table, season), schema.empty_table(table))
