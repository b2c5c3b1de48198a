"""All three sources honour one contract: the same tables, columns and Arrow types, unique keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from p3_common.ergast import TABLES
from p3_ingest.sources.dump import DumpSource
from p3_ingest.sources.jolpica import JolpicaSource
from p3_ingest.sources.schema import arrow_schema, check_unique_key
from p3_ingest.sources.source import ErgastSource
from tests.fixtures.dumps import small_demo_source, write_demo_dump
from tests.fixtures.real_data import real_ergast_dir


@pytest.fixture(params=["demo", "dump", "jolpica"])
def source_and_season(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ErgastSource, int]]:
    if request.param == "demo":
        yield small_demo_source(), 2024
    elif request.param == "dump":
        # The real dump when present; the contract does not depend on it, so fall back to a demo dump.
        folder = real_ergast_dir() or write_demo_dump(tmp_path / "dump")
        yield DumpSource(folder), 2023 if real_ergast_dir() else 2024
    else:
        make_source: Callable[..., JolpicaSource] = request.getfixturevalue("make_source")
        yield make_source(), 2023


@pytest.mark.parametrize("table", list(TABLES))
def test_every_table_has_the_contract_schema_and_unique_keys(
    source_and_season: tuple[ErgastSource, int], table: str
) -> None:
    source, season = source_and_season
    data = (
        source.season_table(table, season)
        if TABLES[table].season_scoped
        else source.reference_table(table)
    )
    assert isinstance(data, pa.Table)
    assert data.schema.equals(arrow_schema(table), check_metadata=False)
    check_unique_key(data, table, source=source.name)
    if table in {"races", "results", "drivers", "constructors", "circuits", "status"}:
        assert data.num_rows > 0, f"{source.name} returned no {table}"


def test_sources_name_themselves(source_and_season: tuple[ErgastSource, int]) -> None:
    source, season = source_and_season
    assert source.name in {"demo", "dump", "jolpica"}
    assert isinstance(source, ErgastSource)
    assert season in source.seasons()
