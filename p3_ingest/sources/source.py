"""The source contract: what every F1 source (dump, jolpica, demo) offers the raw loader."""

from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

import pyarrow as pa

from p3_common.settings import SourceKind


@runtime_checkable
class ErgastSource(Protocol):
    """A provider of Ergast tables.

    Every table it returns has passed ``schema.conform``: exactly the contract columns and Arrow
    types of ``p3_common.ergast.TABLES``, with unique natural keys. Lineage columns (``_source``,
    ``_season``, ``_loaded_at``, ``_run_id``) are the loader's job, never the source's.
    """

    name: SourceKind

    def seasons(self) -> list[int]:
        """Seasons this source can provide, ascending."""
        ...

    def reference_table(self, table: str) -> pa.Table:
        """A whole unpartitioned table (circuits, constructors, drivers, seasons, status)."""
        ...

    def season_table(self, table: str, season: int) -> pa.Table:
        """Every row of a race-scoped table for one season (possibly zero rows)."""
        ...

    def columns_not_provided(self, table: str) -> tuple[str, ...]:
        """Contract columns of ``table`` this source cannot fill (always null in its frames).

        A reload from this source keeps the warehouse's values of these columns.
        """
        ...

    def calendar(self, season: int) -> list[tuple[int, date]]:
        """(round, race date) of every race the source knows for ``season``, cheaply (sensors call it)."""
        ...


class WarehouseCatalog(Protocol):
    """What the warehouse already holds, for sources that load incrementally (jolpica).

    The API identifies drivers, constructors and circuits by string refs and has no integer
    surrogate ids; a source maps refs to the ids already in the warehouse and allocates new ids
    above the current maximum, so ids stay stable across loads and sources.
    """

    def ref_ids(self, table: str) -> dict[str, int]:
        """Natural ref -> id for ``circuits``, ``constructors``, ``drivers``; status text -> id for ``status``."""
        ...

    def race_ids(self, season: int) -> dict[int, int]:
        """Round -> race_id of the season's races already loaded."""
        ...

    def max_id(self, table: str, column: str) -> int:
        """Largest value of an integer id column (0 when the table is empty or absent)."""
        ...

    def loaded_rounds(self, table: str, season: int) -> set[int]:
        """Rounds of ``season`` for which ``table`` already holds rows."""
        ...

    def existing_rows(self, table: str, season: int) -> pa.Table:
        """The rows of a race-scoped table currently loaded for ``season`` (contract columns only)."""
        ...


def season_ranges(seasons: list[int] | tuple[int, ...]) -> str:
    """``[2019, 2020, 2021, 2023]`` as ``"2019-2021, 2023"``."""
    spans: list[list[int]] = []
    for season in sorted(set(seasons)):
        if spans and season == spans[-1][1] + 1:
            spans[-1][1] = season
        else:
            spans.append([season, season])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans) or "none"


def seasons_to_load(
    source: str, available: list[int], requested: tuple[int, ...] | list[int] | None
) -> list[int]:
    """The seasons a run loads: ``requested`` (P3_SEASONS) if the source has them all, else all.

    Raises ``SourceError`` naming the seasons the source has when it has none, or lacks a
    requested one: loading a season the source lacks would load 0 rows and pass every check.
    """
    from .errors import SourceError

    if not available:
        raise SourceError(source, "races", "the source has no seasons (no races to load)")
    if not requested:
        return sorted(available)
    missing = sorted(set(requested) - set(available))
    if missing:
        raise SourceError(
            source,
            "races",
            f"P3_SEASONS asks for {season_ranges(missing)}, which this source does not have; "
            f"it has {season_ranges(available)}",
        )
    return sorted(requested)


def available_seasons(kind: str, *, ergast_dir: str | None, demo_seed: int) -> list[int]:
    """Every season source ``kind`` has, without network access and without Dagster.

    The API's season list would cost a request; its seasons are F1's (1950 to this year).
    """
    from datetime import UTC, datetime
    from pathlib import Path

    from p3_common.settings import FIRST_SEASON

    if kind == "demo":
        from .demo import DemoSource

        return DemoSource(seed=demo_seed).seasons()
    if kind == "dump":
        from .dump import DumpSource
        from .errors import SourceError

        if not ergast_dir:
            raise SourceError("dump", "*", "the dump source needs P3_ERGAST_DIR")
        return DumpSource(Path(ergast_dir)).seasons()
    return list(range(FIRST_SEASON, datetime.now(UTC).year + 1))
