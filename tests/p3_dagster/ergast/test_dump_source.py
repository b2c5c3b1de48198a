"""The dump source: reads the Ergast CSV layout from a folder or zip, and rejects bad input precisely."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest

from p3_common.ergast import TABLES
from p3_ingest.sources.dump import DumpSource
from p3_ingest.sources.errors import SourceError
from tests.fixtures.dumps import small_demo_source, write_demo_dump


@pytest.fixture(scope="module")
def pristine_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo_dump(tmp_path_factory.mktemp("dump"))


@pytest.fixture
def dump(pristine_dump: Path, tmp_path: Path) -> Path:
    """A private copy each test may break."""
    return Path(shutil.copytree(pristine_dump, tmp_path / "dump"))


def edit_line(path: Path, line_number: int, old: str, new: str) -> None:
    lines = path.read_text().split("\n")
    assert old in lines[line_number - 1], f"{old!r} not on line {line_number} of {path.name}"
    lines[line_number - 1] = lines[line_number - 1].replace(old, new, 1)
    path.write_text("\n".join(lines))


def test_round_trip_through_csv_equals_the_generated_tables(dump: Path) -> None:
    generated, read = small_demo_source(), DumpSource(dump)
    assert read.seasons() == generated.seasons()
    for name, spec in TABLES.items():
        if spec.season_scoped:
            for season in generated.seasons():
                assert read.season_table(name, season).equals(
                    generated.season_table(name, season)
                ), f"{name} {season}"
        else:
            assert read.reference_table(name).equals(generated.reference_table(name)), name


def test_a_zip_with_one_wrapping_folder_reads_like_the_folder(dump: Path, tmp_path: Path) -> None:
    archive = tmp_path / "ergast.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for csv in dump.glob("*.csv"):
            zf.write(csv, f"f1db_csv/{csv.name}")
    zipped, folder = DumpSource(archive), DumpSource(dump)
    assert zipped.season_table("results", 2024).equals(folder.season_table("results", 2024))
    assert zipped.reference_table("drivers").equals(folder.reference_table("drivers"))


def test_files_in_sub_folders_are_ignored(dump: Path) -> None:
    (dump / "extra").mkdir()
    shutil.move(dump / "lap_times.csv", dump / "extra" / "lap_times.csv")
    with pytest.raises(SourceError, match=r"lap_times\.csv is missing"):
        DumpSource(dump).season_table("lap_times", 2023)


def test_a_missing_file_names_the_file(dump: Path) -> None:
    (dump / "status.csv").unlink()
    with pytest.raises(SourceError) as excinfo:
        DumpSource(dump).reference_table("status")
    assert "[dump] table 'status'" in str(excinfo.value)
    assert str(dump / "status.csv") in str(excinfo.value)


def test_a_changed_header_is_schema_drift(dump: Path) -> None:
    edit_line(dump / "results.csv", 1, "positionOrder", "positionOrdr")
    with pytest.raises(
        SourceError,
        match=r"missing columns \['position_order'\]; unexpected "
        r"columns \['position_ordr'\]",
    ):
        DumpSource(dump).season_table("results", 2023)


def test_a_non_numeric_id_names_line_and_column(dump: Path) -> None:
    path = dump / "pit_stops.csv"
    race_id = path.read_text().split("\n")[3].split(",")[0]
    edit_line(path, 4, race_id, "12a")
    with pytest.raises(SourceError) as excinfo:
        DumpSource(dump).season_table("pit_stops", 2023)
    assert (excinfo.value.row, excinfo.value.column) == (4, "race_id")
    assert "'12a'" in str(excinfo.value) and "pit_stops.csv" in str(excinfo.value)


def test_a_truncated_file_is_reported_not_half_loaded(dump: Path) -> None:
    path = dump / "lap_times.csv"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # cut mid-row
    with pytest.raises(SourceError, match="malformed CSV|required value is missing"):
        DumpSource(dump).season_table("lap_times", 2023)


def test_a_duplicate_natural_key_names_the_key_and_line(dump: Path) -> None:
    path = dump / "qualifying.csv"
    lines = path.read_text().rstrip("\n").split("\n")
    path.write_text("\n".join([*lines, lines[5]]) + "\n")  # repeat one qualifying row
    with pytest.raises(SourceError, match=r"duplicate key \{'qualify_id': \d+\}") as excinfo:
        DumpSource(dump).season_table("qualifying", 2023)
    assert excinfo.value.row == 6


def test_a_row_for_an_unknown_race_is_an_error_not_silently_dropped(dump: Path) -> None:
    path = dump / "results.csv"
    race_id = path.read_text().split("\n")[1].split(",")[1]
    edit_line(path, 2, f",{race_id},", ",999999,")
    with pytest.raises(
        SourceError, match=r"race_id 999999 does not exist in races\.csv"
    ) as excinfo:
        DumpSource(dump).season_table("results", 2024)
    assert excinfo.value.row == 2


def test_an_empty_file_is_reported(dump: Path) -> None:
    (dump / "seasons.csv").write_text("")
    with pytest.raises(SourceError, match="empty"):
        DumpSource(dump).reference_table("seasons")


def test_a_season_without_rows_is_an_empty_contract_table(dump: Path) -> None:
    table = DumpSource(dump).season_table("pit_stops", 1999)
    assert table.num_rows == 0
    assert isinstance(table, pa.Table) and "milliseconds" in table.column_names
