"""Fixtures for the jolpica tests: a local API server over the real CSVs, a fake clock, clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from p3_common.ergast import REFERENCE_TABLES
from p3_ingest.sources.jolpica import JolpicaClient, JolpicaSource, RateLimiter
from p3_ingest.sources.memory_catalog import InMemoryCatalog
from tests.p3_dagster.ergast.jolpica_server import (
    ContractCsv,
    ErgastApi,
    ErgastData,
    FakeClock,
    JolpicaTestServer,
)

# Small on purpose: 2020 has full lap data, 2023 sprints with a shootout and four races of laps,
# 2024 sprint qualifying and no lap data at all.
SERVED_SEASONS = (2020, 2023, 2024)


@pytest.fixture(scope="session")
def ergast_api(ergast_dir: Path) -> ErgastApi:
    """The API responses builder over the real CSV data (loaded once per session)."""
    return ErgastApi(ErgastData(ergast_dir, SERVED_SEASONS))


@pytest.fixture(scope="session")
def contract_csv(ergast_dir: Path) -> ContractCsv:
    """The real CSV tables in contract form, to compare API-built tables against."""
    return ContractCsv(ergast_dir)


@pytest.fixture
def fake_clock() -> FakeClock:
    """Fake time for the client, its rate limiter and the server's request log."""
    return FakeClock()


@pytest.fixture
def jolpica_server(ergast_api: ErgastApi, fake_clock: FakeClock) -> Iterator[JolpicaTestServer]:
    """A running local Jolpica-compatible server, fresh (no faults, no log) for each test."""
    server = JolpicaTestServer(ergast_api, clock=fake_clock).start()
    yield server
    server.stop()


@pytest.fixture
def make_client(
    jolpica_server: JolpicaTestServer, fake_clock: FakeClock
) -> Iterator[Callable[..., JolpicaClient]]:
    """Build clients of the local server in fake time; ``limiter={...}`` tunes the rate limiter."""
    clients: list[JolpicaClient] = []

    def make(*, limiter: dict[str, Any] | None = None, **overrides: Any) -> JolpicaClient:
        base_url = overrides.pop("base_url", jolpica_server.base_url)
        limiter_args: dict[str, Any] = {
            "clock": fake_clock,
            "sleep": fake_clock.pace,
            **(limiter or {}),
        }
        options: dict[str, Any] = {
            "timeout": 5.0,
            "clock": fake_clock,
            "sleep": fake_clock.sleep,
            "rate_limiter": RateLimiter(**limiter_args),
            **overrides,
        }
        client = JolpicaClient(base_url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def csv_catalog(contract_csv: ContractCsv) -> InMemoryCatalog:
    """A catalog (warehouse) holding the CSV reference tables and every season's races, nothing else."""
    catalog = InMemoryCatalog()
    for table in REFERENCE_TABLES:
        catalog.put_reference(table, contract_csv.table(table))
    races = contract_csv.table("races")
    for season in sorted(set(races["year"].to_pylist())):
        catalog.put_season("races", season, contract_csv.season("races", season))
    return catalog


# After the end of every served season, so every round counts as already run.
AFTER_SEASONS = date(2025, 1, 1)


@pytest.fixture
def make_source(
    make_client: Callable[..., JolpicaClient], csv_catalog: InMemoryCatalog
) -> Callable[..., JolpicaSource]:
    """Build a ``JolpicaSource`` over the local server; defaults to ``csv_catalog``."""

    def make(
        catalog: InMemoryCatalog | None = None, *, today: date = AFTER_SEASONS, **client: Any
    ) -> JolpicaSource:
        store = catalog if catalog is not None else csv_catalog
        return JolpicaSource(make_client(**client), store, today=today)

    return make
