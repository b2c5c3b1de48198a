"""Publishing a snapshot: atomic swap, content build ids, failures and kills leave the last snapshot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from p3_common.snapshot import read_snapshot
from p3_ingest.publish import publish_snapshot


def make_warehouse(path: Path, rows: int) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(
            "CREATE OR REPLACE TABLE marts.points AS "
            f"SELECT range AS driver_id, range * 2.5 AS points FROM range({rows})"
        )
        con.execute("CREATE OR REPLACE TABLE raw.secret AS SELECT 1 AS x")
    return path


def test_publish_copies_only_the_marts_with_a_build_id(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "w.duckdb", 100)
    snapshot = publish_snapshot(warehouse, tmp_path / "serving.duckdb", run_id="run-1")
    assert snapshot.tables == {"marts.points": 100}
    assert read_snapshot(tmp_path / "serving.duckdb") == snapshot
    with duckdb.connect(str(tmp_path / "serving.duckdb"), read_only=True) as con:
        schemas = {r[0] for r in con.execute("SELECT schema_name FROM duckdb_tables()").fetchall()}
    assert schemas == {"marts", "p3_meta"}


def test_build_id_is_a_content_hash(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "w.duckdb", 100)
    published = tmp_path / "serving.duckdb"
    first = publish_snapshot(warehouse, published, run_id="run-1")
    assert publish_snapshot(warehouse, published, run_id="run-2").build_id == first.build_id
    make_warehouse(warehouse, 101)
    assert publish_snapshot(warehouse, published, run_id="run-3").build_id != first.build_id


def test_a_failed_publish_leaves_the_previous_snapshot(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "w.duckdb", 10)
    published = tmp_path / "serving.duckdb"
    good = publish_snapshot(warehouse, published, run_id="run-1")
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(RuntimeError, match="nothing to publish"):
        publish_snapshot(empty, published, run_id="run-2")
    assert read_snapshot(published) == good
    assert [p.name for p in tmp_path.glob(".serving.duckdb.*")] == []


def test_a_reader_during_the_flip_only_ever_sees_one_whole_build(tmp_path: Path) -> None:
    small, large = (
        make_warehouse(tmp_path / "a.duckdb", 1_000),
        make_warehouse(tmp_path / "b.duckdb", 50_000),
    )
    published = tmp_path / "serving.duckdb"
    expected = {
        publish_snapshot(large, published, run_id="b").build_id: 50_000,
        publish_snapshot(small, published, run_id="a").build_id: 1_000,
    }
    seen: list[tuple[str, int]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_forever() -> None:
        while not stop.is_set():
            try:
                with duckdb.connect(str(published), read_only=True) as con:
                    build = con.execute("SELECT build_id FROM p3_meta.build").fetchall()[0][0]
                    rows = con.execute("SELECT count(*) FROM marts.points").fetchall()[0][0]
                seen.append((build, rows))
            except Exception as exc:  # any error is a failure of atomicity: record it
                errors.append(exc)

    reader = threading.Thread(target=read_forever)
    reader.start()
    for i in range(6):
        publish_snapshot(large if i % 2 == 0 else small, published, run_id=f"r{i}")
    stop.set()
    reader.join()
    assert errors == []
    assert seen, "the reader never got a turn"
    assert all(expected[build] == rows for build, rows in seen)


def test_a_killed_publish_leaves_the_previous_snapshot_readable(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "w.duckdb", 10)
    published = tmp_path / "serving.duckdb"
    good = publish_snapshot(warehouse, published, run_id="good")
    big = make_warehouse(tmp_path / "big.duckdb", 20_000_000)
    code = (
        "import sys; from pathlib import Path; from p3_ingest.publish import publish_snapshot; "
        "publish_snapshot(Path(sys.argv[1]), Path(sys.argv[2]), run_id='killed')"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(big), str(published)])
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(".serving.duckdb.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert read_snapshot(published) == good
    # The next publish clears the killed run's staging file.
    publish_snapshot(warehouse, published, run_id="after")
    assert list(tmp_path.glob(".serving.duckdb.*.tmp")) == []


@pytest.mark.parametrize("link", ["same", "relative", "symlink", "hardlink"])
def test_publish_refuses_to_replace_the_warehouse(tmp_path: Path, link: str) -> None:
    warehouse = make_warehouse(tmp_path / "w.duckdb", 10)
    target = {
        "same": warehouse,
        "relative": tmp_path / "sub" / ".." / "w.duckdb",
        "symlink": tmp_path / "link.duckdb",
        "hardlink": tmp_path / "hard.duckdb",
    }[link]
    if link == "symlink":
        target.symlink_to(warehouse)
    elif link == "hardlink":
        os.link(warehouse, target)
    before = warehouse.read_bytes()
    with pytest.raises(ValueError, match="refusing to publish over the warehouse") as info:
        publish_snapshot(warehouse, target, run_id="run-1")
    assert "\n" not in str(info.value) and "P3_SERVING_DUCKDB_PATH" in str(info.value)
    assert warehouse.read_bytes() == before  # untouched: raw schema and all
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.secret").fetchone() == (1,)
