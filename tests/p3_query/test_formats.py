"""Output formats: every format carries the same answer."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from p3_query.engine import Engine
from p3_query.formats import render
from p3_query.result import QueryResult
from p3_query.spec import validate_spec
from tests.fixtures.snapshots import PublishedSnapshot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(snapshot: PublishedSnapshot) -> Iterator[QueryResult]:
    engine = Engine(snapshot.path)
    yield engine.execute(
        validate_spec(
            {
                "entity": "constructor",
                "metrics": ["points", "wins", "dnf_rate"],
                "group_by": ["season", "entity"],
                "statistics": ["mean"],
                "order_by": ["-points"],
                "limit": 20,
            }
        )
    )
    engine.close()


def test_json_holds_every_table_as_records(result: QueryResult) -> None:
    body = json.loads(render(result, "json"))
    assert body["build_id"] == result.build_id and body["query_hash"] == result.query_hash
    assert body["rows"] == result.tables["rows"].records()
    assert body["statistics"] == result.tables["statistics"].records()


def test_csv_holds_one_table_with_a_header(result: QueryResult) -> None:
    rows = list(csv.reader(io.StringIO(render(result, "csv").decode())))
    assert tuple(rows[0]) == result.columns
    assert len(rows) == len(result.rows) + 1
    assert (
        float(rows[1][result.columns.index("points")])
        == result.rows[0][result.columns.index("points")]
    )
    stats = list(csv.reader(io.StringIO(render(result, "csv", table="statistics").decode())))
    assert stats[0][:4] == ["entity_id", "entity_ref", "entity_name", "metric"]


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_parquet_and_arrow_read_back_with_the_build_in_their_metadata(
    result: QueryResult, fmt: str
) -> None:
    payload = render(result, fmt)
    table = (
        pq.read_table(io.BytesIO(payload))
        if fmt == "parquet"
        else ipc.open_stream(payload).read_all()
    )
    assert table.column_names == list(result.columns)
    assert [tuple(r.values()) for r in table.to_pylist()] == list(result.rows)
    assert table.schema.metadata[b"p3.build_id"] == result.build_id.encode()
    assert table.schema.metadata[b"p3.query_hash"] == result.query_hash.encode()


def test_markdown_has_a_table_per_result_table(result: QueryResult) -> None:
    text = render(result, "markdown").decode()
    assert "### rows" in text and "### statistics" in text
    assert "| season | entity_id | entity_ref | entity_name | points | wins | dnf_rate |" in text
    assert text.count("\n| ") >= len(result.rows) + 2
    assert result.build_id in text


def test_the_spec_format_is_the_default_and_unknown_tables_are_refused(result: QueryResult) -> None:
    assert json.loads(render(result))["build_id"] == result.build_id
    with pytest.raises(ValueError, match="has no 'comparison' table"):
        render(result, "csv", table="comparison")
