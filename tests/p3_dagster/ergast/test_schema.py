"""conform(): the gate every source's frames pass through."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from p3_ingest.sources.errors import SourceError
from p3_ingest.sources.schema import arrow_schema, conform


def _lap_rows(**overrides: list[object]) -> pa.Table:
    columns: dict[str, list[object]] = {
        "race_id": ["1", "1", "1"],
        "driver_id": ["7", "7", "8"],
        "lap": ["1", "2", "1"],
        "position": ["1", "\\N", "2"],
        "time": ["1:38.109", "1:37.500", "1:39.000"],
        "milliseconds": ["98109", "97500", "99000"],
    }
    columns.update(overrides)
    return pa.table(columns)


def test_strings_are_cast_to_the_contract_types_with_null_tokens_as_null() -> None:
    table = conform(_lap_rows(), "lap_times", source="test")
    assert table.schema.equals(arrow_schema("lap_times"))
    assert table.column("position").to_pylist() == [1, None, 2]
    assert table.column("milliseconds").to_pylist() == [98109, 97500, 99000]


def test_time_of_day_and_date_columns_are_typed() -> None:
    data = pa.table(
        {
            "race_id": ["1"],
            "driver_id": ["2"],
            "stop": ["1"],
            "lap": ["12"],
            "time": ["17:05:23"],
            "duration": ["26.898"],
            "milliseconds": ["26898"],
        }
    )
    table = conform(data, "pit_stops", source="test")
    assert table.column("time").to_pylist() == [dt.time(17, 5, 23)]


def test_a_non_numeric_id_names_row_and_column() -> None:
    with pytest.raises(SourceError) as excinfo:
        conform(_lap_rows(driver_id=["7", "x7", "8"]), "lap_times", source="test", where="f.csv")
    error = excinfo.value
    assert (error.table, error.row, error.column, error.where) == (
        "lap_times",
        2,
        "driver_id",
        "f.csv",
    )
    assert "'x7'" in str(error)


def test_row_numbers_follow_the_callers_locator() -> None:
    with pytest.raises(SourceError) as excinfo:
        conform(
            _lap_rows(lap=["1", "2", "three"]), "lap_times", source="t", row_number=lambda i: i + 2
        )
    assert excinfo.value.row == 4  # CSV line: header is line 1


def test_missing_and_unexpected_columns_are_schema_drift() -> None:
    data = _lap_rows().drop_columns(["milliseconds"]).append_column("ms", pa.array(["1"] * 3))
    with pytest.raises(
        SourceError,
        match=r"schema drift: missing columns \['milliseconds'\]; "
        r"unexpected columns \['ms'\]",
    ):
        conform(data, "lap_times", source="test")


def test_a_null_in_a_required_column_is_rejected() -> None:
    with pytest.raises(SourceError) as excinfo:
        conform(_lap_rows(milliseconds=["1", "\\N", "3"]), "lap_times", source="test")
    assert (excinfo.value.row, excinfo.value.column) == (2, "milliseconds")


def test_a_duplicate_natural_key_is_rejected_with_the_key() -> None:
    with pytest.raises(
        SourceError, match=r"duplicate key \{'race_id': 1, 'driver_id': 7, 'lap': 1\}"
    ):
        conform(_lap_rows(lap=["1", "1", "1"]), "lap_times", source="test")


def test_documented_extra_columns_are_dropped_not_drift() -> None:
    row = {
        "result_id": "1", "race_id": "1", "driver_id": "1", "constructor_id": "1", "number": "44",
        "grid": "1", "position": "1", "position_text": "1", "position_order": "1", "points": "8",
        "laps": "17", "time": "25:38.426", "milliseconds": "1538426", "fastest_lap": "14",
        "fastest_lap_time": "1:30.013", "status_id": "1", "rank": "1",
    }  # fmt: skip
    table = conform(pa.table({k: [v] for k, v in row.items()}), "sprint_results", source="t")
    assert "rank" not in table.column_names
