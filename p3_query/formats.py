"""Output formats of a query result: JSON, CSV, Parquet, Arrow IPC and a Markdown table."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from .result import QueryResult, ResultTable

Format = Literal["json", "csv", "parquet", "arrow", "markdown"]
FORMATS: tuple[str, ...] = ("json", "csv", "parquet", "arrow", "markdown")
# Single-table formats carry one of the result's tables; JSON and Markdown carry them all.
SINGLE_TABLE_FORMATS = ("csv", "parquet", "arrow")


def render(result: QueryResult, fmt: str | None = None, *, table: str = "rows") -> bytes:
    """The result in ``fmt`` (default: the spec's format).

    CSV, Parquet and Arrow hold one table (``table``: rows, statistics or comparison); Parquet
    and Arrow carry the build id and query hash in their schema metadata.
    """
    fmt = fmt or result.spec.format
    if fmt == "json":
        return to_json(result).encode()
    if fmt == "markdown":
        return to_markdown(result).encode()
    if fmt not in SINGLE_TABLE_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; formats are {', '.join(FORMATS)}")
    if table not in result.tables:
        raise ValueError(f"the result has no {table!r} table; it has {', '.join(result.tables)}")
    if fmt == "csv":
        return to_csv(result.tables[table]).encode()
    arrow = to_arrow(result, table)
    sink = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(arrow, sink)
    else:
        with ipc.new_stream(sink, arrow.schema) as writer:
            writer.write_table(arrow)
    return sink.getvalue()


def to_json(result: QueryResult) -> str:
    """Build, question, every table as a list of records, and timings."""
    body: dict[str, Any] = {
        "build_id": result.build_id,
        "query_hash": result.query_hash,
        "spec": result.spec.model_dump(mode="json"),
    }
    body |= {name: t.records() for name, t in result.tables.items()}
    body["timings_ms"] = result.timings_ms
    return json.dumps(body, indent=2, allow_nan=False)


def to_csv(table: ResultTable) -> str:
    """One table as CSV with a header row (empty cells for nulls)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(["" if v is None else v for v in row] for row in table.rows)
    return out.getvalue()


def to_arrow(result: QueryResult, table: str = "rows") -> pa.Table:
    """One table as an Arrow table, with build id and query hash in the schema metadata."""
    data = result.tables[table]
    arrays = {c: pa.array(data.column(c)) for c in data.columns}
    metadata = {
        "p3.build_id": result.build_id,
        "p3.query_hash": result.query_hash,
        "p3.table": table,
    }
    return pa.table(arrays).replace_schema_metadata(metadata)


def to_markdown(result: QueryResult) -> str:
    """Every table as a Markdown table under a heading, then the build and timing."""
    parts = []
    for name, table in result.tables.items():
        parts.append(f"### {name}\n\n{markdown_table(table)}")
    parts.append(
        f"_build {result.build_id}, query {result.query_hash[:16]}, "
        f"{result.timings_ms.get('total', 0):.1f} ms_"
    )
    return "\n\n".join(parts) + "\n"


def markdown_table(table: ResultTable) -> str:
    """A GitHub-flavoured Markdown table; numbers right-aligned."""
    if not table.columns:
        return "_no rows_"
    numeric = [
        all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in table.column(c)
            if v is not None
        )
        for c in table.columns
    ]
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    lines = [header, rule]
    for row in table.rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return text if text not in {"", "-0"} else "0"
    return str(value).replace("|", "\\|").replace("\n", " ")
