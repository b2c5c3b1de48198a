"""Live benchmark: events through one stream processor, XADD -> SSE latency with many connected
clients, and a full race replayed at 600x with nothing lost. Real Redis, real API server.

Scenarios (a race of the published snapshot, default the 2019 Brazilian GP, 1,432 events):

- ``throughput``: the race's events already on the stream, one in-process processor folds them
  (acknowledge + state + published view per event), without and with live lap anomalies; the
  baseline is the pure reducer folding the same events in memory (no Redis);
- ``latency``: ``python -m p3_api`` (2 workers) and a processor process (``python -m p3_live
  process``) on the same Redis; N clients hold ``GET /v1/live/races/{s}/{r}/events`` open (one
  asyncio loop, raw sockets); events are XADDed at a steady rate and each client's receipt of the
  state that event produced is timed from just before its XADD (same clock, same process);
- ``replay600``: the race replayed at 600x with a processor running beside it; every event must
  be on the stream, applied once and acknowledged, none dead-lettered.

    python bench/live.py [--snapshot data/serving.duckdb] [--redis-url redis://127.0.0.1:6379/0]
        [--season 2019 --round 20] [--clients 1 100 1000] [--rate 5] [--events 120] [--rounds 3]

Everything runs on the same 2-core machine, so each figure includes the clients' CPU share.
Results: ``bench/results/live.md`` and the BENCHMARKS.md section.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from p3_live.anomalies import LapAnomalies  # noqa: E402
from p3_live.events import encode  # noqa: E402
from p3_live.processor import Processor  # noqa: E402
from p3_live.replay import TimedEvent, load_race, replay  # noqa: E402
from p3_live.state import RaceState, reduce, view  # noqa: E402
from p3_live.streams import Publisher, Race, connect  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results" / "live.md"
APPLIED = re.compile(rb'"events_applied":(\d+)')


def cleanup(client: Any, prefix: str) -> None:
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


# --- throughput ------------------------------------------------------------------------------


def fold_in_memory(events: list[TimedEvent]) -> float:
    """Events per second of the pure reducer plus the view, no Redis: the baseline."""
    started = time.perf_counter()
    state = RaceState.empty(events[0].event.season, events[0].event.round)
    for timed in events:
        state = reduce(state, timed.event)
        json.dumps(view(state))
    return len(events) / (time.perf_counter() - started)


def through_processor(url: str, events: list[TimedEvent], anomalies: bool) -> float:
    client = connect(url)
    prefix = f"p3bench:{uuid.uuid4().hex[:8]}"
    race = Race(prefix, events[0].event.season, events[0].event.round)
    try:
        replay(events, Publisher(client, race, maxlen=100_000), speed=None)
        processor = Processor(client, prefix, "bench", enrich=LapAnomalies() if anomalies else None)
        started = time.perf_counter()
        counts = processor.run([race], until_finished=True)
        elapsed = time.perf_counter() - started
        assert counts.applied == len(events), counts
        return len(events) / elapsed
    finally:
        cleanup(client, prefix)


# --- replay at 600x ----------------------------------------------------------------------------


def replay_600(url: str, events: list[TimedEvent]) -> dict[str, Any]:
    client = connect(url)
    prefix = f"p3bench:{uuid.uuid4().hex[:8]}"
    race = Race(prefix, events[0].event.season, events[0].event.round)
    processor = Processor(connect(url), prefix, "bench-600")
    worker = threading.Thread(target=processor.run, args=([race],), kwargs={"until_finished": True})
    try:
        started = time.perf_counter()
        worker.start()
        published = replay(events, Publisher(client, race, maxlen=100_000), speed=600)
        replayed = time.perf_counter() - started
        worker.join(timeout=600)
        done = time.perf_counter() - started
        state = RaceState.model_validate_json(client.get(race.state))
        pending = client.xpending(race.events, "processors")["pending"]
        return {
            "events": len(events),
            "published": published,
            "on_stream": client.xlen(race.events),
            "applied": state.events_applied,
            "pending": pending,
            "dead": client.xlen(race.dead),
            "race_seconds": events[-1].at_ms / 1000,
            "replay_seconds": replayed,
            "processed_seconds": done,
            "lost": len(events) - state.events_applied,
        }
    finally:
        cleanup(client, prefix)


# --- XADD -> SSE latency -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_api(snapshot: Path, home: Path, workers: int, env: dict[str, str]) -> tuple[Any, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "p3_api"],
        cwd=REPO_ROOT,
        env=os.environ
        | {
            "P3_HOME": str(home),
            "P3_SERVING_DUCKDB_PATH": str(snapshot),
            "P3_API_PORT": str(port),
            "P3_API_WORKERS": str(workers),
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process, port
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit("the API did not start")


class SseClient:
    """One raw-socket SSE reader that notes when each ``events_applied`` value arrives."""

    def __init__(self) -> None:
        self.received: dict[int, float] = {}
        self.ready = asyncio.Event()

    async def run(self, port: int, path: str, key: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        await writer.drain()
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                if line.startswith(b"data:"):
                    found = APPLIED.search(line)
                    if found:
                        self.received[int(found.group(1))] = time.perf_counter()
                        self.ready.set()
        finally:
            writer.close()


async def measure_latency(
    url: str,
    port: int,
    key: str,
    prefix: str,
    events: list[TimedEvent],
    clients: int,
    rate: float,
    count: int,
) -> dict[str, Any]:
    season, round = events[0].event.season, events[0].event.round
    race = Race(prefix, season, round)
    redis_client = aioredis.Redis.from_url(url, decode_responses=True)
    sync = connect(url)
    cleanup(sync, prefix)
    await redis_client.sadd(f"{prefix}:races", race.member)
    await redis_client.xadd(race.events, encode(events[0].event))  # the start
    waited = time.monotonic()
    while await redis_client.get(race.view) is None:
        if time.monotonic() - waited > 60:
            raise SystemExit("no processor published the start within 60 s (see its log)")
        await asyncio.sleep(0.05)
    path = f"/v1/live/races/{season}/{round}/events"
    readers = [SseClient() for _ in range(clients)]
    tasks = []
    for index, reader in enumerate(readers):
        tasks.append(asyncio.create_task(reader.run(port, path, key)))
        if index % 50 == 49:
            await asyncio.sleep(0.05)  # do not flood the accept queue
    await asyncio.wait_for(asyncio.gather(*(r.ready.wait() for r in readers)), timeout=300)
    applied_before = int(json.loads(await redis_client.get(race.view))["events_applied"])
    sent: dict[int, float] = {}
    interval = 1.0 / rate
    next_at = time.perf_counter()
    for offset, timed in enumerate(events[1 : 1 + count], start=1):
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[applied_before + offset] = time.perf_counter()
        await redis_client.xadd(race.events, encode(timed.event))
        next_at += interval
    last = applied_before + count
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline and any(last not in r.received for r in readers):
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = sorted(
        (r.received[k] - t) * 1000 for r in readers for k, t in sent.items() if k in r.received
    )
    expected = clients * len(sent)
    await redis_client.aclose()
    cleanup(sync, prefix)
    return {
        "clients": clients,
        "events": len(sent),
        "rate": rate,
        "deliveries": len(latencies),
        "missing": expected - len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else float("nan"),
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(q / 100 * len(values)) - 1))
    return values[index]


def latency_runs(args: argparse.Namespace, events: list[TimedEvent]) -> list[dict[str, Any]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    from p3_api.auth.credentials import Role
    from p3_api.auth.store import SqliteStore

    results = []
    with tempfile.TemporaryDirectory(prefix="p3-bench-live-") as tmp:
        home = Path(tmp) / "home"
        _, key = SqliteStore(home / "api" / "keys.sqlite3").create("api_key", "bench", Role.viewer)
        prefix = f"p3bench:{uuid.uuid4().hex[:8]}"
        env = {
            "P3_LIVE_REDIS_URL": args.redis_url,
            "P3_LIVE_KEY_PREFIX": prefix,
            "P3_API_RATE_VIEWER": "100000000/minute",
        }
        api, port = start_api(args.snapshot, home, args.workers, env)
        log = Path(tmp) / "processor.log"
        processor = subprocess.Popen(
            [sys.executable, "-m", "p3_live", "process", "--no-model"],
            cwd=REPO_ROOT,
            env=os.environ | env | {"P3_HOME": str(home)},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            for clients in args.clients:
                result = asyncio.run(
                    measure_latency(
                        args.redis_url, port, key, prefix, events, clients, args.rate, args.events
                    )
                )
                print(json.dumps(result), flush=True)
                results.append(result)
        finally:
            if processor.poll() is not None:
                print(f"the processor exited:\n{log.read_text()[-3000:]}", file=sys.stderr)
            for process in (processor, api):
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
    return results


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", type=Path, default=REPO_ROOT / "data" / "serving.duckdb")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--season", type=int, default=2019)
    parser.add_argument("--round", type=int, default=20)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--rate", type=float, default=5.0, help="events per second (latency)")
    parser.add_argument("--events", type=int, default=120, help="events timed per client count")
    parser.add_argument("--rounds", type=int, default=3, help="throughput repetitions")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scenario", nargs="+", default=["throughput", "replay600", "latency"])
    args = parser.parse_args()
    events = load_race(args.snapshot, args.season, args.round)
    lines = [
        f"# Live benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Race {args.season} round {args.round}: {len(events)} events; Redis {args.redis_url}; "
        f"{os.cpu_count()} cores shared by the server, the processor and the clients.",
        "",
    ]
    if "throughput" in args.scenario:
        runs = {
            "in-memory fold (baseline)": [fold_in_memory(events) for _ in range(args.rounds)],
            "processor": [
                through_processor(args.redis_url, events, False) for _ in range(args.rounds)
            ],
            "processor + lap anomalies": [
                through_processor(args.redis_url, events, True) for _ in range(args.rounds)
            ],
        }
        base = statistics.median(runs["in-memory fold (baseline)"])
        lines += [
            "## Events per second through one processor",
            "",
            "| run | median ev/s | runs | vs baseline |",
            "|---|---:|---|---:|",
        ]
        for name, values in runs.items():
            median = statistics.median(values)
            shown = ", ".join(f"{v:.0f}" for v in values)
            lines.append(f"| {name} | {median:.0f} | {shown} | {median / base:.2f}x |")
        lines.append("")
        print("\n".join(lines[-6:]), flush=True)
    if "replay600" in args.scenario:
        result = replay_600(args.redis_url, events)
        lines += [
            "## Full race at 600x",
            "",
            f"{result['race_seconds'] / 60:.1f} race minutes replayed in {result['replay_seconds']:.1f} s; "
            f"processed {result['processed_seconds']:.1f} s after the start. Published {result['published']}, "
            f"on the stream {result['on_stream']}, applied {result['applied']}, pending {result['pending']}, "
            f"dead-lettered {result['dead']}: **{result['lost']} lost**.",
            "",
        ]
        print(lines[-2], flush=True)
    if "latency" in args.scenario:
        results = latency_runs(args, events)
        base = results[0]["p50_ms"] if results else float("nan")
        lines += [
            f"## XADD -> SSE client latency ({args.events} events at {args.rate:g}/s, {args.workers} API workers)",
            "",
            "| clients | deliveries | missing | p50 ms | p99 ms | max ms | p50 vs 1 client |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in results:
            lines.append(
                f"| {r['clients']} | {r['deliveries']} | {r['missing']} | {r['p50_ms']:.1f} | "
                f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['p50_ms'] / base:.1f}x |"
            )
        lines.append("")
    RESULTS.write_text("\n".join(lines))
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
