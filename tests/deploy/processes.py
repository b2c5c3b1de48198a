"""Real servers for the deployment tests: start a command in its own process group, wait until a
URL answers, stop the group."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180  # imports of Dagster, FastAPI and DuckDB on a busy 2-core machine


@contextmanager
def serving(argv: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[None]:
    """Run ``argv`` until the block ends; enter once ``ready_url`` answers 200."""
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{argv[0]} exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(ready_url, timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{ready_url} did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
