"""Publishing while requests stream in: no request fails, and the new build is served."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx

from tests.fixtures.snapshots import PublishedSnapshot

from .conftest import StartApi, publish_copy

SPECS = [
    {"entity": "driver", "metrics": ["wins"], "limit": n, "order_by": ["-wins"]}
    for n in range(1, 40)
]


def test_no_request_fails_while_snapshots_are_published(
    start_api: StartApi, snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    served = tmp_path / "serving.duckdb"
    shutil.copyfile(snapshot.path, served)
    server = start_api(served, workers=2)
    failures: list[str] = []
    builds: set[str] = set()
    answered = 0
    stop = threading.Event()

    def stream(offset: int) -> None:
        nonlocal answered
        with server.client() as client:
            i = offset
            while not stop.is_set():
                spec = SPECS[i % len(SPECS)]
                i += 1
                try:
                    response = client.post("/v1/query", json=spec)
                except httpx.HTTPError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text[:200]}")
                else:
                    builds.add(response.headers["x-p3-build"])
                    answered += 1

    threads = [threading.Thread(target=stream, args=(n * 7,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        for n in range(5):
            time.sleep(0.6)
            publish_copy(snapshot.path, served, f"publish{n}")
        time.sleep(1.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []
    assert answered > 50
    assert "publish4" in builds and len(builds) >= 3, builds
