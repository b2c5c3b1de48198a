"""API tables equal the CSV rows, ids follow the warehouse, loads are incremental."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from p3_common.ergast import REFERENCE_TABLES, TABLES
from p3_ingest.ingest import ingest_table
from p3_ingest.sources import schema
from p3_ingest.sources.errors import SourceError
from p3_ingest.sources.jolpica import JolpicaSource
from p3_ingest.sources.memory_catalog import InMemoryCatalog
from p3_ingest.sources.source import ErgastSource
from p3_ingest.warehouse import load_reference

if TYPE_CHECKING:
    from tests.p3_dagster.ergast.jolpica_server import ContractCsv, JolpicaTestServer

MakeSource = Callable[..., JolpicaSource]


def _rows(data: pa.Table, table: str, drop: Sequence[str] = ()) -> list[dict]:
    """Rows without the surrogate ``drop`` columns, sorted on every remaining column."""
    columns = [c for c in TABLES[table].column_names if c not in drop]
    return data.select(columns).sort_by([(c, "ascending") for c in columns]).to_pylist()


def _round_paths(server: JolpicaTestServer, resource: str) -> list[int]:
    """Round numbers of the ``{season}/{round}/{resource}.json`` requests, in order."""
    return [int(p.split("/")[-2]) for p in server.paths() if p.endswith(f"/{resource}.json")]


def _without(catalog_table: pa.Table, column: str, values: list) -> pa.Table:
    return catalog_table.filter(pc.invert(pc.is_in(catalog_table[column], pa.array(values))))


# --------------------------------------------------------------------------- contract


def test_source_satisfies_the_ergast_source_protocol(make_source: MakeSource) -> None:
    source = make_source()
    assert isinstance(source, ErgastSource)
    assert source.name == "jolpica"


def test_seasons_lists_every_season_ascending(make_source: MakeSource) -> None:
    seasons = make_source().seasons()
    assert seasons == list(range(1950, 2025))


# --------------------------------------------------------------------------- full seasons vs CSV


@pytest.mark.parametrize(
    ("table", "season", "surrogate"),
    [
        ("sprint_results", 2023, ("result_id",)),
        ("sprint_results", 2024, ("result_id",)),
        ("qualifying", 2023, ("qualify_id",)),
        ("pit_stops", 2023, ()),
        ("pit_stops", 2020, ()),
        ("lap_times", 2020, ()),
        ("lap_times", 2023, ()),  # the four 2023 races with lap data
        ("driver_standings", 2023, ("driver_standings_id",)),
        ("constructor_standings", 2023, ("constructor_standings_id",)),
    ],
)
def test_full_season_through_the_api_equals_the_csv_rows(
    make_source: MakeSource,
    contract_csv: ContractCsv,
    table: str,
    season: int,
    surrogate: tuple[str, ...],
) -> None:
    got = make_source().season_table(table, season)
    expected = contract_csv.season(table, season)
    assert got.schema.equals(schema.arrow_schema(table))
    assert got.num_rows == expected.num_rows > 0
    assert _rows(got, table, surrogate) == _rows(expected, table, surrogate)


def _csv_results(contract_csv: ContractCsv, season: int) -> pa.Table:
    """CSV results as the API can express them.

    Ergast's CSV writes rank 0 when a driver set no fastest lap; the API then has no FastestLap
    object at all, so the source can only say null.
    """
    expected = contract_csv.season("results", season)
    no_lap = pc.is_null(expected["fastest_lap"])
    rank = pc.if_else(no_lap, pa.scalar(None, pa.int32()), expected["rank"])
    return expected.set_column(expected.schema.get_field_index("rank"), "rank", rank)


@pytest.mark.parametrize("season", [2020, 2023])
def test_results_equal_the_csv_except_rank_of_entries_without_fastest_lap(
    make_source: MakeSource, contract_csv: ContractCsv, season: int
) -> None:
    got = make_source().season_table("results", season)
    expected = _csv_results(contract_csv, season)
    raw_ranks = contract_csv.season("results", season)["rank"]
    assert pc.sum(pc.equal(raw_ranks, 0)).as_py() == got["rank"].null_count > 0
    assert _rows(got, "results", ["result_id"]) == _rows(expected, "results", ["result_id"])


def test_constructor_results_are_derived_from_race_and_sprint_points(
    make_source: MakeSource, contract_csv: ContractCsv, jolpica_server: JolpicaTestServer
) -> None:
    got = make_source().season_table("constructor_results", 2023)
    expected = contract_csv.season("constructor_results", 2023)
    surrogate = ["constructor_results_id"]
    assert _rows(got, "constructor_results", surrogate) == _rows(
        expected, "constructor_results", surrogate
    )
    assert len(_round_paths(jolpica_server, "results")) == 22
    assert len(_round_paths(jolpica_server, "sprint")) == 6  # only sprint weekends


@pytest.mark.parametrize("season", [2020, 2023, 2024])
def test_schedule_maps_sessions_like_ergast(
    make_source: MakeSource, contract_csv: ContractCsv, season: int
) -> None:
    # 2023 sprint weekends name the fp2 slot SprintShootout, 2024 SprintQualifying. "Today" is
    # before the season, so every round comes from the schedule, not from the csv_catalog.
    got = make_source(today=date(season, 1, 1)).season_table("races", season)
    assert got.to_pylist() == contract_csv.season("races", season).sort_by("round").to_pylist()


@pytest.mark.parametrize("table", REFERENCE_TABLES)
def test_reference_tables_equal_the_csv_with_warehouse_ids(
    make_source: MakeSource, contract_csv: ContractCsv, table: str
) -> None:
    got = make_source().reference_table(table)
    expected = contract_csv.table(table)
    # The API has no circuit altitude; everything else must match.
    columns = [c for c in TABLES[table].column_names if c != "alt"]
    key = [(c, "ascending") for c in TABLES[table].key]
    assert got.select(columns).sort_by(key).to_pylist() == (
        expected.select(columns).sort_by(key).to_pylist()
    )
    if table == "circuits":
        assert got["alt"].null_count == got.num_rows


def test_an_api_reload_of_circuits_keeps_the_altitudes_the_dump_loaded(
    make_source: MakeSource, contract_csv: ContractCsv
) -> None:
    dump = contract_csv.table("circuits")
    with duckdb.connect() as con:
        load_reference(con, "circuits", dump, source="dump", run_id="bulk")
        ingest_table(con, make_source(), "circuits", run_id="incremental")
        got = con.execute(
            "SELECT circuit_id, alt, _source FROM raw.ergast__circuits ORDER BY 1"
        ).fetchall()
    expected = sorted(zip(dump["circuit_id"].to_pylist(), dump["alt"].to_pylist(), strict=True))
    assert [(i, alt) for i, alt, _ in got] == expected
    assert {s for *_, s in got} == {"jolpica"} and sum(a is not None for _, a in expected) > 50


def test_sprint_results_are_fetched_only_for_sprint_weekends(
    make_source: MakeSource, jolpica_server: JolpicaTestServer
) -> None:
    make_source().season_table("sprint_results", 2023)
    assert _round_paths(jolpica_server, "sprint") == [4, 9, 12, 17, 18, 20]


# --------------------------------------------------------------------------- ids


def test_new_refs_get_ids_above_max_in_sorted_order_in_every_table(
    make_source: MakeSource, csv_catalog: InMemoryCatalog, contract_csv: ContractCsv
) -> None:
    newcomers = ["sargeant", "piastri", "de_vries"]  # 2023 rookies the warehouse lacks here
    csv_catalog.put_reference(
        "drivers", _without(contract_csv.table("drivers"), "driver_ref", newcomers)
    )
    top = csv_catalog.max_id("drivers", "driver_id")
    expected = {"de_vries": top + 1, "piastri": top + 2, "sargeant": top + 3}

    drivers = make_source().reference_table("drivers")
    ids = dict(
        zip(drivers["driver_ref"].to_pylist(), drivers["driver_id"].to_pylist(), strict=True)
    )
    assert {ref: ids[ref] for ref in newcomers} == expected
    assert ids["hamilton"] == 1  # known refs keep their warehouse id

    # A separate run (new source instance) fetching results allocates the very same ids.
    results = make_source().season_table("results", 2023)
    numbers = {
        row["driver_id"]: row["number"]
        for row in results.select(["driver_id", "number"]).to_pylist()
        if row["driver_id"] > top
    }
    assert numbers == {expected["de_vries"]: 21, expected["piastri"]: 81, expected["sargeant"]: 2}


def test_new_rounds_get_race_ids_above_max_in_round_order(
    make_source: MakeSource, csv_catalog: InMemoryCatalog
) -> None:
    csv_catalog.put_season("races", 2023, schema.empty_table("races"))
    top = csv_catalog.max_id("races", "race_id")
    source = make_source()
    races = source.season_table("races", 2023)
    assert races["race_id"].to_pylist() == list(range(top + 1, top + 23))
    assert races["round"].to_pylist() == list(range(1, 23))
    results = source.season_table("results", 2023)
    assert set(results["race_id"].to_pylist()) == set(range(top + 1, top + 23))


def test_one_source_never_hands_out_the_same_row_id_twice(make_source: MakeSource) -> None:
    source = make_source()
    ids_2023 = set(source.season_table("results", 2023)["result_id"].to_pylist())
    ids_2024 = set(source.season_table("results", 2024)["result_id"].to_pylist())
    assert len(ids_2023) == 440 and len(ids_2024) == 479
    assert not ids_2023 & ids_2024


# --------------------------------------------------------------------------- incremental


def _load_rounds(
    catalog: InMemoryCatalog, contract_csv: ContractCsv, table: str, season: int, rounds: range
) -> pa.Table:
    races = contract_csv.season("races", season)
    race_ids = races.filter(pc.is_in(races["round"], pa.array(list(rounds))))["race_id"]
    rows = contract_csv.season(table, season)
    rows = rows.filter(pc.is_in(rows["race_id"], value_set=race_ids))
    catalog.put_season(table, season, rows)
    return rows


def test_incremental_fetch_asks_only_for_rounds_not_yet_loaded(
    make_source: MakeSource,
    csv_catalog: InMemoryCatalog,
    contract_csv: ContractCsv,
    jolpica_server: JolpicaTestServer,
) -> None:
    loaded = _load_rounds(csv_catalog, contract_csv, "results", 2023, range(1, 21))
    top = csv_catalog.max_id("results", "result_id")

    got = make_source().season_table("results", 2023)

    assert _round_paths(jolpica_server, "results") == [21, 22]
    assert jolpica_server.paths()[0].endswith("/2023.json")  # the schedule says which rounds exist
    assert got.num_rows == 440
    assert got.slice(0, loaded.num_rows).equals(loaded)  # warehouse rows come back untouched
    new_ids = got.slice(loaded.num_rows)["result_id"].to_pylist()
    assert min(new_ids) == top + 1 and len(set(new_ids)) == len(new_ids)
    new_rows = got.slice(loaded.num_rows)
    expected = _csv_results(contract_csv, 2023)
    expected = expected.filter(pc.is_in(expected["race_id"], value_set=new_rows["race_id"]))
    assert _rows(new_rows, "results", ["result_id"]) == _rows(expected, "results", ["result_id"])


def test_fully_loaded_season_costs_only_the_schedule_request(
    make_source: MakeSource,
    csv_catalog: InMemoryCatalog,
    contract_csv: ContractCsv,
    jolpica_server: JolpicaTestServer,
) -> None:
    loaded = _load_rounds(csv_catalog, contract_csv, "lap_times", 2020, range(1, 18))
    got = make_source().season_table("lap_times", 2020)
    assert jolpica_server.paths() == ["/ergast/f1/2020.json"]
    assert got.equals(loaded)


def test_only_rounds_already_run_are_fetched(
    make_source: MakeSource, jolpica_server: JolpicaTestServer
) -> None:
    # 2023 round 8 (Canada) ran on 18 June, round 9 (Austria) on 2 July.
    got = make_source(today=date(2023, 7, 1)).season_table("qualifying", 2023)
    assert _round_paths(jolpica_server, "qualifying") == list(range(1, 9))
    assert got.num_rows == 8 * 20


def test_races_keep_run_rounds_from_warehouse_and_refresh_the_rest(
    make_source: MakeSource, csv_catalog: InMemoryCatalog, contract_csv: ContractCsv
) -> None:
    races = contract_csv.season("races", 2023).sort_by("round")
    names = races["name"].to_pylist()
    names[0], names[21] = "Old Bahrain name", "Old Abu Dhabi name"
    csv_catalog.put_season("races", 2023, races.set_column(4, "name", pa.array(names)))

    got = make_source(today=date(2023, 7, 1)).season_table("races", 2023).sort_by("round")

    assert got["name"][0].as_py() == "Old Bahrain name"  # already run: the warehouse row stays
    assert got["name"][21].as_py() == "Abu Dhabi Grand Prix"  # still to come: from the schedule
    assert got["race_id"].to_pylist() == races["race_id"].to_pylist()


# --------------------------------------------------------------------------- errors and empties


def test_unknown_status_text_raises_a_clear_error(
    make_source: MakeSource, csv_catalog: InMemoryCatalog, contract_csv: ContractCsv
) -> None:
    csv_catalog.put_reference(
        "status", _without(contract_csv.table("status"), "status", ["+1 Lap"])
    )
    with pytest.raises(SourceError, match=r"unknown status '\+1 Lap'") as info:
        make_source().season_table("results", 2023)
    assert info.value.where is not None and info.value.where.endswith("/2023/1/results.json")
    assert info.value.column == "status_id"
    assert info.value.row is not None


def test_rounds_without_data_give_an_empty_contract_table(
    make_source: MakeSource, jolpica_server: JolpicaTestServer
) -> None:
    got = make_source().season_table("lap_times", 2024)  # no 2024 lap data in the dump
    assert got.num_rows == 0
    assert got.schema.equals(schema.arrow_schema("lap_times"))
    assert _round_paths(jolpica_server, "laps") == list(range(1, 25))


def test_empty_catalog_starts_every_id_at_one(make_source: MakeSource) -> None:
    source = make_source(InMemoryCatalog())
    constructors = source.reference_table("constructors")
    assert sorted(constructors["constructor_id"].to_pylist()) == list(range(1, 213))
    first = constructors.sort_by("constructor_ref").slice(0, 1).to_pylist()[0]
    assert first["constructor_id"] == 1  # sorted ref order


def test_status_table_keeps_api_ids_for_texts_the_warehouse_lacks(
    make_source: MakeSource, csv_catalog: InMemoryCatalog, contract_csv: ContractCsv
) -> None:
    csv_catalog.put_reference(
        "status", _without(contract_csv.table("status"), "status", ["Engine", "+1 Lap"])
    )
    got = make_source().reference_table("status")
    ids = dict(zip(got["status"].to_pylist(), got["status_id"].to_pylist(), strict=True))
    assert ids["Engine"] == 5 and ids["+1 Lap"] == 11  # Jolpica's statusId continues Ergast's
    assert ids["Finished"] == 1


# --------------------------------------------------------------------------- in-memory catalog


def test_in_memory_catalog_derives_rounds_and_max_ids_from_its_rows(
    csv_catalog: InMemoryCatalog, contract_csv: ContractCsv
) -> None:
    assert csv_catalog.loaded_rounds("results", 2023) == set()
    loaded = _load_rounds(csv_catalog, contract_csv, "results", 2023, range(3, 6))
    assert csv_catalog.loaded_rounds("results", 2023) == {3, 4, 5}
    assert csv_catalog.loaded_rounds("races", 2023) == set(range(1, 23))
    assert csv_catalog.max_id("results", "result_id") == max(loaded["result_id"].to_pylist())
    assert csv_catalog.max_id("drivers", "driver_id") == 862
    assert csv_catalog.max_id("pit_stops", "race_id") == 0
    assert csv_catalog.existing_rows("qualifying", 2023).schema.equals(
        schema.arrow_schema("qualifying")
    )
    assert csv_catalog.ref_ids("status")["Finished"] == 1
