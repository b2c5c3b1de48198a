"""P3 settings: one frozen object read once from P3_* environment variables."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    AnyHttpUrl,
    BeforeValidator,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
FIRST_SEASON = 1950
JOLPICA_BASE_URL = "https://api.jolpi.ca/ergast/f1"

Environment = Literal["local", "test", "prod"]
SourceKind = Literal["demo", "dump", "jolpica"]

_REDIS_SCHEMES = ("redis", "rediss", "unix")
_SEASON_ITEM = re.compile(r"^\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?$")


def parse_seasons(value: object) -> tuple[int, ...] | None:
    """Parse ``"2010-2024"``, ``"2019,2021-2023"`` or ``"2024"`` into sorted unique seasons.

    None or an empty string mean "every season the source has".
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        items = str(value).split(",")
    seasons: set[int] = set()
    current_year = datetime.now(UTC).year
    for item in items:
        match = _SEASON_ITEM.match(item)
        if match is None:
            raise ValueError(
                f"{item.strip()!r} is not a season or range; use e.g. '2024', '2010-2024' or "
                "'2019,2021-2023'"
            )
        start = int(match.group(1))
        end = int(match.group(2) or start)
        if start > end:
            raise ValueError(f"range {item.strip()!r} is empty (start after end)")
        if start < FIRST_SEASON or end > current_year + 1:
            raise ValueError(
                f"{item.strip()!r} is outside {FIRST_SEASON}-{current_year + 1}, the seasons F1 has"
            )
        seasons.update(range(start, end + 1))
    return tuple(sorted(seasons))


def _resolve(path: Path) -> Path:
    # Resolved once against the repository root, so dbt, Dagster and the CLI agree from any cwd.
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


class Settings(BaseSettings):
    """Every path, URL and switch P3 uses. Fields map to ``P3_<FIELD>`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="P3_", frozen=True, extra="ignore")

    env: Environment = "local"
    home: Path = Path("data")
    warehouse_path: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("P3_DUCKDB_PATH", "warehouse_path"),
        description="The live DuckDB warehouse file; default $P3_HOME/warehouse.duckdb.",
    )
    serving_duckdb_path: Path | None = None
    ml_snapshot_path: Path | None = Field(
        default=None,
        description="The published read-only file of the ML outputs (predictions, anomalies, "
        "profiles); default $P3_HOME/serving_ml.duckdb.",
    )
    source: SourceKind = "demo"
    ergast_dir: Path | None = None
    jolpica_url: AnyHttpUrl = AnyHttpUrl(JOLPICA_BASE_URL)
    jolpica_burst_per_second: PositiveFloat = 4.0
    jolpica_hourly_limit: PositiveInt = 500
    jolpica_timeout_seconds: PositiveFloat = Field(
        default=20.0, description="Longest wait for one read from the API (httpx timeout)."
    )
    jolpica_request_deadline_seconds: PositiveFloat = Field(
        default=60.0,
        description="Longest time one API request may take, retries and slow bodies included.",
    )
    jolpica_step_deadline_seconds: PositiveFloat = Field(
        default=600.0, description="Longest time loading one table (one season of it) may take."
    )
    seasons: Annotated[tuple[int, ...] | None, NoDecode, BeforeValidator(parse_seasons)] = None
    demo_seed: int = Field(default=2024, description="Seed of the synthetic demo championship.")
    automation_interval_seconds: int = Field(
        default=60,
        ge=5,
        description="How often the automation-condition sensor evaluates the graph (seconds).",
    )
    orphan_grace_seconds: float = Field(
        default=120.0,
        ge=5,
        description=(
            "How long a run launched by the code server may have been started before "
            "orphaned_run_sensor judges whether its worker process is gone (seconds)."
        ),
    )
    orphan_sensor_interval_seconds: int = Field(
        default=60,
        ge=5,
        description="How often orphaned_run_sensor looks for runs whose worker is gone (seconds).",
    )
    alert_webhook: AnyHttpUrl | None = Field(
        default=None, description="URL that receives a JSON POST when a run fails."
    )
    dagster_ui_url: AnyHttpUrl | None = Field(
        default=None,
        description="Base URL of the Dagster UI (e.g. http://127.0.0.1:3000); alerts link to the run.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL for the query cache; unset = embedded file cache."
    )
    cache_dir: Path | None = Field(default=None, description="Embedded cache folder.")
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of the API key store; unset = SQLite under P3_HOME/api.",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "P3_MLFLOW_TRACKING_URI"),
        description="MLflow tracking URI; unset = a SQLite store under P3_HOME/mlflow.",
    )
    prometheus_url: str | None = Field(
        default=None,
        description=(
            "Prometheus that scrapes the API (the weekly performance report reads the API's "
            "error rate there); unset = the local API's own metrics files."
        ),
    )

    @field_validator("ergast_dir", mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        # An empty path would resolve to the repository root and be read as a dump folder.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is set but empty; unset it or give a folder or .zip of Ergast CSVs")
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _redis_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None  # unset or empty: the embedded cache
        text = str(value).strip()
        parts = urlsplit(text)
        if parts.scheme not in _REDIS_SCHEMES or not (parts.hostname or parts.path):
            raise ValueError(
                "is not a Redis URL; use redis://host:6379/0, rediss://host:6380/0 or "
                "unix:///path/to/redis.sock (unset it for the embedded cache)"
            )
        return text

    @field_validator(
        "home",
        "warehouse_path",
        "serving_duckdb_path",
        "ml_snapshot_path",
        "ergast_dir",
        "cache_dir",
        mode="after",
    )
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        return None if path is None else _resolve(path)

    @model_validator(mode="after")
    def _defaults_inside_home(self) -> Settings:
        # Every file P3 writes defaults to a place inside P3_HOME.
        if self.warehouse_path is None:
            object.__setattr__(self, "warehouse_path", self.home / "warehouse.duckdb")
        if self.serving_duckdb_path is None:
            object.__setattr__(self, "serving_duckdb_path", self.home / "serving.duckdb")
        if self.ml_snapshot_path is None:
            object.__setattr__(self, "ml_snapshot_path", self.home / "serving_ml.duckdb")
        if self.cache_dir is None:
            object.__setattr__(self, "cache_dir", self.home / "cache")
        if self.mlflow_tracking_uri is None:
            store = self.home / "mlflow" / "mlflow.db"
            object.__setattr__(self, "mlflow_tracking_uri", f"sqlite:///{store}")
        assert self.serving_duckdb_path is not None and self.warehouse_path is not None  # set above
        if self.serving_duckdb_path.resolve() == self.warehouse_path.resolve():
            raise ValueError(
                f"P3_SERVING_DUCKDB_PATH is the warehouse file {self.warehouse_path} "
                "(P3_DUCKDB_PATH); publishing would replace the warehouse: give the snapshot "
                "its own path"
            )
        if self.source == "dump" and self.ergast_dir is None:
            raise ValueError("P3_SOURCE=dump needs P3_ERGAST_DIR (a folder or .zip of Ergast CSVs)")
        if self.ergast_dir is not None and not self.ergast_dir.exists():
            raise ValueError(f"P3_ERGAST_DIR does not exist: {self.ergast_dir}")
        return self

    @property
    def mlflow_artifacts_dir(self) -> Path:
        """Where a local MLflow store keeps run artifacts and models."""
        return self.home / "mlflow" / "artifacts"

    @property
    def dagster_home(self) -> Path:
        """The Dagster instance folder used by ``make run`` and ``make dev``."""
        return self.home / "dagster"


class SettingsError(ValueError):
    """Invalid P3 configuration; the message names each offending environment variable."""


def load_settings() -> Settings:
    """Read settings from the environment, turning validation errors into one readable message."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            # Fields read under another name report it (P3_DUCKDB_PATH, MLFLOW_TRACKING_URI).
            var = (
                field.upper()
                if field.upper().startswith(("P3_", "MLFLOW_"))
                else f"P3_{field.upper()}"
            )
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{var}: {message} (got {error.get('input')!r})" if field else message)
        if len(lines) == 1:  # the usual case: one line a user can read in a terminal
            raise SettingsError(f"invalid P3 configuration: {lines[0]}") from None
        raise SettingsError("invalid P3 configuration:\n  " + "\n  ".join(lines)) from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
