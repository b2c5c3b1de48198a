"""A query's answer: its tables, the build and question it answers, timings; bytes for a cache."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .spec import QuerySpec

PAYLOAD_VERSION = 1


@dataclass(frozen=True)
class ResultTable:
    """Named columns and rows of plain Python values (int, float, str, bool, None)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[Any]:
        """One column's values."""
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def to_pandas(self) -> Any:
        """A pandas DataFrame of the table."""
        import pandas as pd

        return pd.DataFrame.from_records(list(self.rows), columns=list(self.columns))


@dataclass(frozen=True)
class QueryResult:
    """The answer to one resolved spec on one build.

    ``tables`` always has ``rows`` (the main result); ``statistics`` and ``comparison`` are
    present when the spec asked for them.
    """

    build_id: str
    query_hash: str
    spec: QuerySpec
    tables: dict[str, ResultTable]
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns of the main table."""
        return self.tables["rows"].columns

    @property
    def rows(self) -> tuple[tuple[Any, ...], ...]:
        """Rows of the main table."""
        return self.tables["rows"].rows

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (tables as columns + rows)."""
        return {
            "v": PAYLOAD_VERSION,
            "build_id": self.build_id,
            "query_hash": self.query_hash,
            "spec": self.spec.model_dump(mode="json"),
            "tables": {
                name: {"columns": list(t.columns), "rows": [list(r) for r in t.rows]}
                for name, t in self.tables.items()
            },
            "timings_ms": self.timings_ms,
        }

    def to_payload(self) -> bytes:
        """Compact bytes for a cache entry (``from_payload`` restores an equal result)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_payload(cls, payload: bytes) -> QueryResult:
        """Inverse of ``to_payload``."""
        data = json.loads(payload)
        if data.get("v") != PAYLOAD_VERSION:
            raise ValueError(f"unsupported query result payload version {data.get('v')!r}")
        return cls(
            build_id=data["build_id"],
            query_hash=data["query_hash"],
            spec=QuerySpec.model_validate(data["spec"]),
            tables={
                name: ResultTable(tuple(t["columns"]), tuple(tuple(r) for r in t["rows"]))
                for name, t in data["tables"].items()
            },
            timings_ms=data.get("timings_ms", {}),
        )


def plain(value: Any) -> Any:
    """A DuckDB/pandas/numpy value as a JSON-safe Python value (NaN and infinities become None)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value)
