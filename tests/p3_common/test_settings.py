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
