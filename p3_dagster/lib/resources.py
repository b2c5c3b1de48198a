"""Dagster resources: the DuckDB warehouse, the published snapshot and the configured F1 source
(dump | jolpica | demo). The dbt CLI resource lives with the rest of the dbt wiring (``lib/dbt``)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
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


class PublishedSnapshotResource(dg.ConfigurableResource):
    """Where a published read-only snapshot lives: the marts' (P3_SERVING_DUCKDB_PATH) or the ML
    outputs' (P3_ML_SNAPSHOT_PATH)."""

    path: str = Field(description="Path of the published snapshot file.")


class ErgastSourceResource(dg.ConfigurableResource):
    """The F1 data source the raw layer ingests from; every kind yields the same Ergast tables."""

    kind: SourceKind = Field(
        description="demo (synthetic, offline), dump (Ergast CSVs) or jolpica (HTTP API)."
    )
    ergast_dir: str | None = Field(
        default=None, description="Folder or .zip of Ergast CSVs (dump)."
    )
    # No defaults of its own: every value comes from Settings (build_source_resource).
    jolpica_url: str = Field(description="Jolpica base URL (P3_JOLPICA_URL).")
    jolpica_burst_per_second: float
    jolpica_hourly_limit: int
    jolpica_timeout_seconds: float
    jolpica_request_deadline_seconds: float  # one request, retries and slow bodies included
    jolpica_step_deadline_seconds: float  # one table (season) load
    demo_seed: int

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
