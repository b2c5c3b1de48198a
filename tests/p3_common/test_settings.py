"""Settings: defaults inside P3_HOME, relative paths resolved against the repo, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from p3_common.settings import REPO_ROOT, SettingsError, load_settings, parse_seasons


def test_defaults_put_every_file_inside_p3_home(isolated_p3_env: Path) -> None:
    settings = load_settings()
    assert settings.env == "test"
    assert settings.source == "demo"
    assert settings.warehouse_path == isolated_p3_env / "warehouse.duckdb"
    assert settings.serving_duckdb_path == isolated_p3_env / "serving.duckdb"
    assert settings.dagster_home == isolated_p3_env / "dagster"
    assert settings.seasons is None


def test_relative_paths_resolve_against_the_repository_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    monkeypatch.setenv("P3_HOME", "some/data")
    monkeypatch.setenv("P3_DUCKDB_PATH", "elsewhere/w.duckdb")
    settings = load_settings()
    assert settings.home == REPO_ROOT / "some" / "data"
    assert settings.warehouse_path == REPO_ROOT / "elsewhere" / "w.duckdb"


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(Exception, match="frozen"):
        settings.source = "dump"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024", (2024,)),
        ("2010-2012", (2010, 2011, 2012)),
        ("2019, 2021-2022,2019", (2019, 2021, 2022)),
        ("", None),
    ],
)
def test_seasons_parse_years_ranges_and_lists(text: str, expected: tuple[int, ...] | None) -> None:
    assert parse_seasons(text) == expected


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("P3_SEASONS", "2024-2010", "empty"),
        ("P3_SEASONS", "1900-1910", "outside"),
        ("P3_SEASONS", "last year", "not a season"),
        ("P3_SOURCE", "kaggle", "P3_SOURCE"),
        ("P3_ENV", "staging", "P3_ENV"),
        ("P3_JOLPICA_URL", "not a url", "P3_JOLPICA_URL"),
        ("P3_JOLPICA_HOURLY_LIMIT", "0", "P3_JOLPICA_HOURLY_LIMIT"),
    ],
)
def test_bad_values_fail_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, message: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert var in str(excinfo.value)
    assert message in str(excinfo.value)


def test_dump_source_requires_an_existing_ergast_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("P3_ERGAST_DIR", raising=False)  # the caller may point it at real data
    monkeypatch.setenv("P3_SOURCE", "dump")
    with pytest.raises(SettingsError, match="P3_ERGAST_DIR"):
        load_settings()
    monkeypatch.setenv("P3_ERGAST_DIR", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings()
    monkeypatch.setenv("P3_ERGAST_DIR", str(tmp_path))
    assert load_settings().ergast_dir == tmp_path


@pytest.mark.parametrize(
    "value", ["notaurl", "http://127.0.0.1:6379/0", "redis://", "127.0.0.1:6379"]
)
def test_a_redis_url_that_is_not_one_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("P3_REDIS_URL", value)
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith("invalid P3 configuration: P3_REDIS_URL: is not a Redis URL")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("rediss://cache.example.invalid:6380/1", "rediss://cache.example.invalid:6380/1"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
        ("", None),
    ],
)
def test_redis_urls_and_an_empty_value_are_accepted(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str | None
) -> None:
    monkeypatch.setenv("P3_REDIS_URL", value)
    assert load_settings().redis_url == expected


@pytest.mark.parametrize("source", ["demo", "dump"])
def test_an_empty_ergast_dir_is_an_error_not_the_repository_root(
    monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    monkeypatch.setenv("P3_SOURCE", source)
    monkeypatch.setenv("P3_ERGAST_DIR", "")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert str(excinfo.value) == (
        "invalid P3 configuration: P3_ERGAST_DIR: is set but empty; unset it or give a folder "
        "or .zip of Ergast CSVs (got '')"
    )


def test_the_snapshot_may_not_be_the_warehouse(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("P3_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("P3_SERVING_DUCKDB_PATH", str(tmp_path / "sub" / ".." / "w.duckdb"))
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    message = str(excinfo.value)
    assert "\n" not in message
    assert "P3_SERVING_DUCKDB_PATH is the warehouse file" in message
    assert "P3_DUCKDB_PATH" in message


def test_jolpica_deadlines_default_to_a_minute_per_request_and_ten_per_table() -> None:
    settings = load_settings()
    assert settings.jolpica_request_deadline_seconds == 60.0
    assert settings.jolpica_step_deadline_seconds == 600.0


def test_jolpica_deadlines_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P3_JOLPICA_REQUEST_DEADLINE_SECONDS", "0")
    with pytest.raises(SettingsError, match="P3_JOLPICA_REQUEST_DEADLINE_SECONDS"):
        load_settings()
