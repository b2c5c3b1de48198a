"""The live page in headless Chromium during a real replay: the leader it shows changes as the
race's lead changed, and its final order is the official result."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from p3_live.processor import Processor
from p3_live.replay import load_race, replay
from p3_live.streams import Publisher, Race, connect
from tests.fixtures.snapshots import PublishedSnapshot

from .conftest import StartApi

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MACHINE_REDIS = "redis://127.0.0.1:6379/0"
BRAZIL_2019 = (2019, 20)


class Browser:
    """A headless Chromium driven over the Chrome DevTools Protocol (one page)."""

    def __init__(self, profile: Path) -> None:
        assert CHROMIUM is not None
        self.process = subprocess.Popen(
            [
                CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--remote-debugging-port=0",
                f"--user-data-dir={profile}", "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.ids = count(1)
        self.stack = ExitStack()
        self.page = self._attach()

    def _attach(self) -> ClientConnection:
        assert self.process.stderr is not None
        deadline = time.monotonic() + 60
        port = None
        while port is None:
            line = self.process.stderr.readline()
            if "DevTools listening on ws://" in line:
                port = int(line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
            elif not line and self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start its DevTools endpoint")
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(t for t in targets if t["type"] == "page")
        return self.stack.enter_context(ws_connect(page["webSocketDebuggerUrl"], max_size=None))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.page.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.page.recv(timeout=60))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        self.stack.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("chromium not installed (Debian package chromium)")
    started = Browser(tmp_path / "chromium")
    yield started
    started.close()


@pytest.fixture
def live_prefix() -> Iterator[str]:
    try:
        redis.Redis.from_url(MACHINE_REDIS, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {MACHINE_REDIS}")
    name = f"p3test:live:{uuid.uuid4().hex[:12]}"
    yield name
    client = connect(MACHINE_REDIS)
    keys = list(client.scan_iter(f"{name}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.mark.slow
def test_the_live_page_follows_a_replayed_race_to_its_official_result(
    browser: Browser, start_api: StartApi, snapshot: PublishedSnapshot, live_prefix: str
) -> None:
    if snapshot.kind != "real":
        pytest.skip("the 2019 Brazilian GP needs the real Ergast data (set P3_ERGAST_DIR)")
    season, round = BRAZIL_2019
    events = load_race(snapshot.path, season, round)
    server = start_api(
        snapshot.path, workers=1, P3_LIVE_REDIS_URL=MACHINE_REDIS, P3_LIVE_KEY_PREFIX=live_prefix
    )
    client = connect(MACHINE_REDIS)
    race = Race(live_prefix, season, round)
    publish = Publisher(client, race, maxlen=100_000)
    publish(events[0].event)  # the start: the page has a state to open on
    processor = Processor(connect(MACHINE_REDIS), live_prefix, "page-test")
    while processor.step([race]):
        pass
    page = (
        f"{server.base_url}/static/live.html?season={season}&round={round}#key={server.admin_key}"
    )
    browser.call("Page.navigate", url=page)
    deadline = time.monotonic() + 60
    while browser.evaluate("window.p3Live ? window.p3Live.events : 0") < 1:
        assert time.monotonic() < deadline, browser.evaluate("document.body.innerText")
        time.sleep(0.2)
    # The rest of the race in about 30 s (~2,800x), with a processor running beside it.
    speed = events[-1].at_ms / 1000 / 30
    worker = threading.Thread(target=processor.run, args=([race],), kwargs={"until_finished": True})
    worker.start()
    replay(events[1:], publish, speed=speed)
    worker.join(timeout=300)
    deadline = time.monotonic() + 60
    while not browser.evaluate("window.p3Live.finished"):
        assert time.monotonic() < deadline, "the page never showed the finish"
        time.sleep(0.2)

    shown_leaders = browser.evaluate("window.p3Live.leaders.map(l => l.driver_id)")
    listed = browser.evaluate(
        "[...document.querySelectorAll('#lead-changes li')].map(li => Number(li.dataset.driverId))"
    )
    final_rows = browser.evaluate(
        "[...document.querySelectorAll('#board tr')].map(tr => Number(tr.dataset.driverId))"
    )
    lap_leaders = [
        driver_id
        for (driver_id,) in snapshot.query(
            "select driver_id from marts.fct_lap_times where season = ? and round = ? "
            "and position = 1 order by lap",
            [season, round],
        )
    ]
    expected_changes = [d for i, d in enumerate(lap_leaders) if i == 0 or lap_leaders[i - 1] != d]
    official = [
        driver_id
        for (driver_id,) in snapshot.query(
            "select driver_id from marts.fct_race_results where season = ? and round = ? "
            "order by position_order",
            [season, round],
        )
    ]
    assert (
        shown_leaders == listed == expected_changes
    )  # Verstappen, Vettel, ... Hamilton, Verstappen
    assert final_rows == official
    leader = browser.evaluate("document.getElementById('leader').dataset.driverId")
    assert int(leader) == official[0]
    assert browser.evaluate("window.p3Live.state.events_applied") == len(events)
