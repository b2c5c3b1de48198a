"""The new-race sensor: cursor semantics, one run request per new season, errors keep the cursor."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from p3_common.settings import Settings
from p3_dagster.defs.ingestion.sensors import build_new_race_results_sensor
from p3_dagster.defs.resources import build_source_resource
from p3_ingest.sources.calendar import RaceRef, latest_completed_race, seasons_to_reload
from p3_ingest.sources.demo import DemoSource
from tests.fixtures.dumps import write_demo_dump

pytestmark = pytest.mark.usefixtures("dbt_manifest")  # the definitions load the manifest


@pytest.mark.parametrize(
    ("latest", "cursor", "expected"),
    [
        (None, None, []),
        (RaceRef(2024, 5), None, [2024]),
        (RaceRef(2024, 5), RaceRef(2024, 5), []),
        (RaceRef(2024, 5), RaceRef(2024, 7), []),  # source went back (round cancelled): nothing
        (RaceRef(2024, 6), RaceRef(2024, 5), [2024]),
        (RaceRef(2025, 1), RaceRef(2024, 22), [2024, 2025]),
    ],
)
def test_seasons_to_reload_follow_the_cursor(
    latest: RaceRef | None, cursor: RaceRef | None, expected: list[int]
) -> None:
    assert seasons_to_reload(latest, cursor) == expected


def test_race_refs_order_chronologically_and_round_trip_as_text() -> None:
    assert RaceRef(2023, 22) < RaceRef(2024, 1) < RaceRef(2024, 10)
    assert RaceRef.parse(str(RaceRef(2024, 10))) == RaceRef(2024, 10)


def test_latest_completed_race_ignores_races_not_yet_run() -> None:
    source = DemoSource()
    calendar = source.calendar(2024)
    round_3_date = dict(calendar)[3]
    assert latest_completed_race(source, [2024], round_3_date) == RaceRef(2024, 2)
    assert latest_completed_race(source, [2023, 2024], date(2024, 1, 1)) == RaceRef(
        2023, max(r for r, _ in source.calendar(2023))
    )


def sensor_for(folder: Path) -> tuple[dg.SensorDefinition, dict[str, object]]:
    sensor = build_new_race_results_sensor([2023, 2024])
    settings = Settings(home=folder.parent / "home", source="dump", ergast_dir=folder)
    return sensor, {"ergast": build_source_resource(settings)}


def test_first_tick_requests_the_latest_season_and_sets_the_cursor(tmp_path: Path) -> None:
    sensor, resources = sensor_for(write_demo_dump(tmp_path / "dump"))
    with dg.build_sensor_context(resources=resources) as context:
        result = sensor(context)
    assert [r.partition_key for r in result.run_requests] == ["2024"]
    assert result.cursor == "2024-3"  # the small demo has three races a season


def test_no_request_when_nothing_is_new(tmp_path: Path) -> None:
    sensor, resources = sensor_for(write_demo_dump(tmp_path / "dump"))
    with dg.build_sensor_context(cursor="2024-3", resources=resources) as context:
        result = sensor(context)
    assert isinstance(result, dg.SkipReason)


def test_one_run_per_new_season_and_the_cursor_advances(tmp_path: Path) -> None:
    sensor, resources = sensor_for(write_demo_dump(tmp_path / "dump"))
    with dg.build_sensor_context(cursor="2023-2", resources=resources) as context:
        result = sensor(context)
    assert [r.partition_key for r in result.run_requests] == ["2023", "2024"]
    assert len({r.run_key for r in result.run_requests}) == 2
    assert result.cursor == "2024-3"


def test_a_source_error_fails_the_tick_and_keeps_the_cursor(tmp_path: Path) -> None:
    folder = write_demo_dump(tmp_path / "dump")
    (folder / "races.csv").unlink()
    sensor, resources = sensor_for(folder)
    with dg.build_sensor_context(cursor="2024-1", resources=resources) as context:
        with pytest.raises(Exception, match=r"races\.csv is missing"):
            sensor(context)
        assert context.cursor == "2024-1"
