"""Dagster resources: the DuckDB warehouse and the configured F1 source (dump | jolpica | demo)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliInvocation, DbtCliResource
from pydantic import Field

from p3_common.settings import SourceKind
from p3_ingest.sources.demo import DemoSource
from p3_ingest.sources.dump import DumpSource
from p3_ingest.sources.jolpica import JolpicaClient, JolpicaSource, RateLimiter
from p3_ingest.sources.source import (
    ErgastSource,
    WarehouseCatalog,
    available_seasons,
    seasons_to_load,
)


class WarehouseResource(dg.ConfigurableResource):
    """The live DuckDB warehouse file. Only pipeline steps in the ``duckdb_write`` pool open it."""

    database: str = Field(description="Path of the warehouse file (P3_DUCKDB_PATH).")

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection, closed even when the step fails.

        dagster-duckdb's ``DuckDBResource`` skips ``close()`` when the body raises, which leaves the
        file locked for the rest of the process (seen with 0.29.27); hence this small resource.
        """
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.database, config={"custom_user_agent": "p3"})
        try:
            yield con
        finally:
            con.close()


class P3DbtCliResource(DbtCliResource):
    """dbt CLI resource that runs dbt with P3's warehouse path and target in its environment.

    profiles.yml reads ``P3_DUCKDB_PATH`` and ``P3_ENV``; dagster-dbt hands dbt a copy of
    ``os.environ``, so the variables are set for the moment the subprocess starts rather than
    exported process-wide when definitions load.
    """

    environment: dict[str, str] = Field(
        default_factory=dict, description="Variables dbt must see (P3_DUCKDB_PATH, P3_ENV)."
    )
    runs_dir: str | None = Field(
        default=None,
        description="Where each invocation's target folder (run results, logs) goes; "
        "default: dagster-dbt's, inside the dbt project.",
    )
    keep_runs: int = Field(
        default=30, ge=1, description="How many run folders to keep in runs_dir (oldest go first)."
    )

    def cli(self, args: Sequence[str], **kwargs: Any) -> DbtCliInvocation:
        if self.runs_dir and kwargs.get("target_path") is None:
            # Artifacts of every run belong with P3's other files under P3_HOME, not in the repo.
            prune_run_folders(Path(self.runs_dir), keep=self.keep_runs - 1)
            kwargs["target_path"] = Path(self.runs_dir) / f"{_utc_stamp()}-{uuid.uuid4().hex[:8]}"
        with _environ(self.environment):
            return super().cli(args, **kwargs)


def prune_run_folders(runs_dir: Path, *, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest run folders of ``runs_dir``; returns what was deleted.

    Folders are named ``<UTC stamp>-<random>``, so name order is age order. Anything else in the
    folder is left alone.
    """
    if not runs_dir.is_dir():
        return []
    runs = sorted(p for p in runs_dir.iterdir() if p.is_dir() and _RUN_FOLDER.fullmatch(p.name))
    doomed = runs[: max(len(runs) - keep, 0)]
    for folder in doomed:
        # Best effort: a folder another process already removed is not a reason to fail a run.
        shutil.rmtree(folder, ignore_errors=True)
    return doomed


_RUN_FOLDER = re.compile(r"\d{8}T\d{6}-[0-9a-f]{8}")


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S")


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class PublishedSnapshotResource(dg.ConfigurableResource):
    """Where the published read-only snapshot of the marts lives (P3_SERVING_DUCKDB_PATH)."""

    path: str = Field(description="Path of the published snapshot file.")


class ErgastSourceResource(dg.ConfigurableResource):
    """The F1 data source the raw layer ingests from; every kind yields the same Ergast tables."""

    kind: SourceKind = Field(
        description="demo (synthetic, offline), dump (Ergast CSVs) or jolpica (HTTP API)."
    )
    ergast_dir: str | None = Field(
        default=None, description="Folder or .zip of Ergast CSVs (dump)."
    )
    jolpica_url: str = Field(
        default="https://api.jolpi.ca/ergast/f1", description="Jolpica base URL."
    )
    jolpica_burst_per_second: float = 4.0
    jolpica_hourly_limit: int = 500
    jolpica_timeout_seconds: float = 20.0
    jolpica_request_deadline_seconds: float = 60.0  # one request, retries and slow bodies included
    jolpica_step_deadline_seconds: float = 600.0  # one table (season) load
    demo_seed: int = 2024

    @contextmanager
    def open(self, catalog: WarehouseCatalog) -> Iterator[ErgastSource]:
        """A source for one step; ``catalog`` tells the incremental API source what is loaded.

        The API client's connection pool is closed when the step ends, failed or not.
        """
        if self.kind == "demo":
            yield _demo_source(self.demo_seed)
        elif self.kind == "dump":
            if not self.ergast_dir:
                raise ValueError("the dump source needs ergast_dir (P3_ERGAST_DIR)")
            # A fresh reader per step: the files may change between runs of a long-lived process.
            yield DumpSource(Path(self.ergast_dir))
        else:
            limiter = RateLimiter(
                per_second=self.jolpica_burst_per_second, per_hour=self.jolpica_hourly_limit
            )
            with JolpicaClient(
                self.jolpica_url,
                timeout=self.jolpica_timeout_seconds,
                request_deadline=self.jolpica_request_deadline_seconds,
                step_deadline=self.jolpica_step_deadline_seconds,
                rate_limiter=limiter,
            ) as client:
                yield JolpicaSource(client, catalog)

    def default_seasons(self) -> list[int]:
        """Every season the source has, computed without network access (used for partitions)."""
        if self.kind == "demo":
            return _demo_source(self.demo_seed).seasons()
        return available_seasons(self.kind, ergast_dir=self.ergast_dir, demo_seed=self.demo_seed)

    def seasons_to_load(self, requested: Sequence[int] | None) -> list[int]:
        """``requested`` (P3_SEASONS) or every season; a season the source lacks is an error."""
        return seasons_to_load(self.kind, self.default_seasons(), requested)


@functools.lru_cache(maxsize=4)
def _demo_source(seed: int) -> DemoSource:
    # Deterministic and immutable, so one generated championship serves every step of a run.
    return DemoSource(seed=seed)
