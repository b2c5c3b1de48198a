"""Arrow form of the Ergast contract, and ``conform``: the single gate every source's frames pass through."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from p3_common.ergast import TABLES, Column, ColumnType, TableSpec

from .errors import SourceError
from .timing import NULL_TOKENS, time_of_day_to_seconds

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    ColumnType.INTEGER: pa.int32(),
    ColumnType.BIGINT: pa.int64(),
    ColumnType.DOUBLE: pa.float64(),
    ColumnType.VARCHAR: pa.string(),
    ColumnType.DATE: pa.date32(),
    ColumnType.TIME: pa.time32("s"),
}

DUCKDB_TYPES: dict[ColumnType, str] = {
    ColumnType.INTEGER: "INTEGER",
    ColumnType.BIGINT: "BIGINT",
    ColumnType.DOUBLE: "DOUBLE",
    ColumnType.VARCHAR: "VARCHAR",
    ColumnType.DATE: "DATE",
    ColumnType.TIME: "TIME",
}


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema a source must yield for ``table`` (contract columns only, in order)."""
    spec = TABLES[table]
    return pa.schema(
        [pa.field(c.name, ARROW_TYPES[c.type], nullable=c.nullable) for c in spec.columns]
    )


def empty_table(table: str) -> pa.Table:
    """A zero-row table with the contract schema (a season without, say, pit-stop data)."""
    return arrow_schema(table).empty_table()


RowLocator = Callable[[int], int]
"""Maps a 0-based row index of the frame to the row number to report (e.g. a CSV line number)."""


def conform(
    data: pa.Table,
    table: str,
    *,
    source: str,
    where: str | None = None,
    row_number: RowLocator = lambda i: i + 1,
) -> pa.Table:
    """Check ``data`` against the contract of ``table`` and cast it to the contract's Arrow schema.

    Accepts string or already-typed columns. Raises ``SourceError`` naming the source, table, place,
    row and column for: missing or unexpected columns, a value that does not parse as the column's
    type, a null in a required column, and a duplicated natural key. Never changes values silently.
    """
    spec = TABLES[table]
    _check_columns(data, spec, source, where)
    columns = [
        _cast_column(data.column(col.name), col, spec, source, where, row_number)
        for col in spec.columns
    ]
    result = pa.Table.from_arrays(columns, schema=arrow_schema(table))
    check_unique_key(result, table, source=source, where=where, row_number=row_number)
    return result


def _check_columns(data: pa.Table, spec: TableSpec, source: str, where: str | None) -> None:
    present = [n for n in data.column_names if n not in spec.ignored_source_columns]
    missing = [n for n in spec.column_names if n not in present]
    unexpected = [n for n in present if n not in spec.column_names]
    if missing or unexpected:
        details = []
        if missing:
            details.append(f"missing columns {missing}")
        if unexpected:
            details.append(f"unexpected columns {unexpected}")
        raise SourceError(
            source,
            spec.name,
            f"schema drift: {'; '.join(details)}; expected {list(spec.column_names)}",
            where=where,
        )


def _cast_column(
    values: pa.ChunkedArray,
    col: Column,
    spec: TableSpec,
    source: str,
    where: str | None,
    row_number: RowLocator,
) -> pa.ChunkedArray:
    target = ARROW_TYPES[col.type]
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        values = _null_tokens_to_null(values) if col.type is not ColumnType.VARCHAR else values
        if col.type is ColumnType.TIME:
            values = _times_to_seconds(values, col, spec, source, where, row_number)
    if not values.type.equals(target):
        try:
            values = pc.cast(values, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            index, bad = _first_uncastable(values, target)
            raise SourceError(
                source,
                spec.name,
                f"value {bad!r} is not a valid {col.type.value} ({exc})",
                where=where,
                row=row_number(index) if index is not None else None,
                column=col.name,
            ) from exc
    if not col.nullable and values.null_count:
        index = pc.index(pc.is_null(values), True).as_py()
        raise SourceError(
            source,
            spec.name,
            "required value is missing (null)",
            where=where,
            row=row_number(index),
            column=col.name,
        )
    return values


def _null_tokens_to_null(values: pa.ChunkedArray) -> pa.ChunkedArray:
    trimmed = pc.utf8_trim_whitespace(values)
    is_token = pc.is_in(trimmed, value_set=pa.array(sorted(NULL_TOKENS)))
    return pc.if_else(is_token, pa.scalar(None, values.type), trimmed)


def _times_to_seconds(
    values: pa.ChunkedArray,
    col: Column,
    spec: TableSpec,
    source: str,
    where: str | None,
    row_number: RowLocator,
) -> pa.ChunkedArray:
    # Arrow cannot cast strings to time32, so parse "HH:MM:SS" (or the API's "HH:MM:SSZ") here.
    seconds = []
    for index, value in enumerate(values.to_pylist()):
        try:
            seconds.append(time_of_day_to_seconds(value))
        except ValueError as exc:
            raise SourceError(
                source, spec.name, str(exc), where=where, row=row_number(index), column=col.name
            ) from exc
    return pa.chunked_array([pa.array(seconds, pa.int32()).cast(pa.time32("s"))])


def _first_uncastable(values: pa.ChunkedArray, target: pa.DataType) -> tuple[int | None, object]:
    for index, value in enumerate(values.to_pylist()):
        if value is None:
            continue
        try:
            pc.cast(pa.array([value]), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return index, value
    return None, None


def check_unique_key(
    data: pa.Table,
    table: str,
    *,
    source: str,
    where: str | None = None,
    row_number: RowLocator = lambda i: i + 1,
) -> None:
    """Raise ``SourceError`` if the natural key of ``table`` repeats within ``data``."""
    spec = TABLES[table]
    if data.num_rows == 0:
        return
    keyed = data.select(list(spec.key)).append_column(
        "_row", pa.array(range(data.num_rows), pa.int64())
    )
    grouped = keyed.group_by(list(spec.key)).aggregate([("_row", "count"), ("_row", "min")])
    dupes = grouped.filter(pc.greater(grouped["_row_count"], 1))
    if dupes.num_rows:
        first = dupes.slice(0, 1).to_pylist()[0]
        key_values = {k: first[k] for k in spec.key}
        raise SourceError(
            source,
            table,
            f"duplicate key {key_values} ({first['_row_count']} rows; "
            f"{dupes.num_rows} duplicated keys in all)",
            where=where,
            row=row_number(first["_row_min"]),
            column=", ".join(spec.key),
        )
