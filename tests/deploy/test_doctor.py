"""`p3 doctor` names each broken service and how to fix it, against real services."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from p3_common.settings import get_settings
from p3_dagster.cli import app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_settings() -> None:
    get_settings.cache_clear()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def doctor() -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["doctor"], terminal_width=200)
    return result.exit_code, result.output.splitlines()


def line(lines: list[str], name: str) -> str:
    return next(entry for entry in lines if name in entry)


def test_a_fresh_home_says_what_to_build_and_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    code, lines = doctor()
    assert code == 1
    assert line(lines, "warehouse").startswith("FAIL warehouse (P3_DUCKDB_PATH): ")
    assert "does not exist yet" in line(lines, "warehouse")
    assert any("fix: run `make run`" in entry for entry in lines)
    assert "no published snapshot" in line(lines, "snapshot")
    assert line(lines, "redis").startswith("ok   redis (P3_REDIS_URL): not configured")
    assert "dagster/dagster.yaml does not exist" in line(lines, "dagster instance")
    assert line(lines, "postgres (P3_DATABASE_URL)").startswith(
        "ok   postgres (P3_DATABASE_URL): not"
    )


def test_unreachable_redis_and_postgres_are_named_with_their_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P3_REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    monkeypatch.setenv("P3_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{closed_port()}/p3")
    code, lines = doctor()
    assert code == 1
    assert line(lines, "redis (P3_REDIS_URL)").startswith("FAIL")
    assert "does not answer" in line(lines, "redis (P3_REDIS_URL)")
    postgres = line(lines, "postgres (P3_DATABASE_URL)")
    assert (
        postgres.startswith("FAIL")
        and "cannot connect to postgresql://postgres@127.0.0.1:" in postgres
    )


def test_the_production_instance_on_a_real_postgres_is_healthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(REPO / "deploy/dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("P3_DATABASE_URL", postgres_url)
    monkeypatch.setenv(
        "P3_DAGSTER_DATABASE_URL", postgres_url.replace("postgresql:", "postgresql+psycopg2:")
    )
    monkeypatch.setenv("P3_REDIS_URL", "redis://127.0.0.1:6379/0")
    _, lines = doctor()
    assert line(lines, "postgres (P3_DATABASE_URL)").startswith("ok")
    assert line(lines, "dagster instance").startswith("ok")
    assert "PostgresRunStorage, 0 runs" in line(lines, "dagster instance")
    assert line(lines, "redis (P3_REDIS_URL)").startswith("ok")


def test_a_production_instance_without_its_database_url_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(REPO / "deploy/dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    _, lines = doctor()
    instance = line(lines, "dagster instance")
    assert instance.startswith("FAIL") and "P3_DAGSTER_DATABASE_URL is not set" in instance
