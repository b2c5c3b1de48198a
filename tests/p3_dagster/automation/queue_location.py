"""A one-job code location for the run-queue test: each run holds until its release file exists,
so a test decides when a run ends and the queue daemon sees it in progress until then."""

# No `from __future__ import annotations`: Dagster reads the config type hint at runtime.

import time
from pathlib import Path

import dagster as dg

HOLD_TIMEOUT_S = 600


class HoldConfig(dg.Config):
    release_file: str


@dg.op
def hold(config: HoldConfig) -> None:
    """Waits until ``release_file`` exists (the test creates it)."""
    deadline = time.monotonic() + HOLD_TIMEOUT_S
    while not Path(config.release_file).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{config.release_file} never appeared")
        time.sleep(0.2)


@dg.job
def hold_job() -> None:
    hold()


defs = dg.Definitions(jobs=[hold_job])
