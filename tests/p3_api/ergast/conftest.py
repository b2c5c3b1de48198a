"""Servers for the Ergast API tests: the session's real-history snapshot, the same with the 2023
lap timings of ``extra/`` added, and FastF1 in a venv of its own."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.fixtures.real_data import REPO_ROOT, real_ergast_dir
from tests.fixtures.snapshots import PublishedSnapshot
from tests.p3_api.conftest import ApiServer, launch

UV = REPO_ROOT / ".uv" / "bin" / "uv"  # the Makefile's uv


def ergast_csv_dir() -> Path:
    """The real Ergast CSV folder (only asked once ``real_snapshot`` found the real data)."""
    found = real_ergast_dir()
    assert found is not None, "the real snapshot was built, so the real data is there"
    return found


def samples_dir() -> Path:
    """The recorded Ergast responses: ``P3_ERGAST_SAMPLES_DIR``, else ``ergast-api-samples``
    beside the real CSV folder (as in ``../shared/data/``)."""
    configured = os.environ.get("P3_ERGAST_SAMPLES_DIR")
    folder = Path(configured) if configured else ergast_csv_dir().parent / "ergast-api-samples"
    if not folder.is_dir():
        pytest.skip(f"no recorded Ergast responses at {folder}: set P3_ERGAST_SAMPLES_DIR")
    return folder


def read_csv(name: str) -> list[dict[str, str]]:
    """Rows of one shared Ergast CSV (``\\N`` stays as written)."""
    with (ergast_csv_dir() / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def real_snapshot(snapshot: PublishedSnapshot) -> PublishedSnapshot:
    """The session snapshot, when it holds the real Ergast history (the samples are real data)."""
    if snapshot.kind != "real":
        pytest.skip(
            "the Ergast samples are real 1950-2024 data; this session has the demo snapshot"
        )
    if not snapshot.query(
        "select count(*) from information_schema.tables where table_name = 'dim_seasons'"
    )[0][0]:
        pytest.skip("the snapshot predates marts.dim_seasons; rebuild it (p3 materialize)")
    return snapshot


@pytest.fixture(scope="session")
def ergast_api(real_snapshot: PublishedSnapshot, api: ApiServer) -> ApiServer:
    """The module's API server, on real data."""
    return api


@pytest.fixture(scope="module")
def laps_api(
    real_snapshot: PublishedSnapshot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """A server on a copy of the snapshot with ``extra/lap_times_2023_four_races.csv`` added.

    Ingestion reads ``lap_times.csv`` (1996-2020) and ignores ``extra/``, so the published history
    has no 2023 laps; the laps samples are 2023 races, and their timings are exactly those rows.
    """
    folder = tmp_path_factory.mktemp("ergast_laps")
    path = folder / "serving.duckdb"
    shutil.copyfile(real_snapshot.path, path)
    extra = ergast_csv_dir() / "extra" / "lap_times_2023_four_races.csv"
    with duckdb.connect(str(path)) as con:
        con.execute(
            "insert into marts.fct_lap_times (race_id, season, round, driver_id, constructor_id, "
            "lap, position, lap_time_ms) select x.raceId, r.season, r.round, x.driverId, "
            "rr.constructor_id, x.lap, x.position, x.milliseconds "
            "from read_csv(?, header = true) x join marts.dim_races r on r.race_id = x.raceId "
            "join marts.fct_race_results rr on rr.race_id = x.raceId and rr.driver_id = x.driverId",
            [str(extra)],
        )
        con.execute("update p3_meta.build set build_id = build_id || '-laps2023'")
    server = launch(path, folder, workers=1)
    yield server
    server.stop()


FASTF1_CLIENT = """\
import json, sys
import fastf1
import fastf1.ergast.interface as interface
from fastf1.ergast import Ergast
fastf1.Cache.set_disabled()
interface.BASE_URL = sys.argv[1] + "/ergast/f1"
ergast = Ergast(result_type="pandas", auto_cast=True)
def frame(response):
    return json.loads(response.content[0].to_json(orient="records", date_format="iso"))
laps = ergast.get_lap_times(season=2019, round=21, lap_number=1)
json.dump({
    "standings_2021": frame(ergast.get_driver_standings(season=2021)),
    "monaco_2008": frame(ergast.get_race_results(season=2008, round=6)),
    "laps_2019_21_lap1": frame(laps),
    "laps_total": laps.total_results,
}, sys.stdout)
"""


@pytest.fixture(scope="session")
def fastf1_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with FastF1 (it pins pandas<3, so it cannot live in the project's venv)."""
    venv = tmp_path_factory.mktemp("fastf1") / "venv"
    try:
        subprocess.run(
            [str(UV), "venv", "--python", "3.11", str(venv)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        python = venv / "bin" / "python"
        subprocess.run(
            [str(UV), "pip", "install", "--python", str(python), "fastf1"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        output = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"could not install fastf1 into a venv: {exc}: {output.decode()[-500:]}")
    return python


def run_fastf1(python: Path, base_url: str, folder: Path) -> dict[str, object]:
    """Run the FastF1 client script against ``base_url``; its answers by name."""
    script = folder / "fastf1_client.py"
    script.write_text(FASTF1_CLIENT)
    done = subprocess.run(
        [str(python), str(script), base_url],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=folder,
        # FastF1 creates its HTTP cache under the user's cache folder on import; keep it here.
        env={"PATH": "/usr/bin:/bin", "HOME": str(folder), "XDG_CACHE_HOME": str(folder)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)
