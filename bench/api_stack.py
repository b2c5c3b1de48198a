"""CPU per request through the API's ASGI stack, in one process, without a network or wrk.

``bench/api.py`` measures the served API with wrk on the same two cores, so its req/s and p99
move with whatever else the machine runs. This measures what the code costs: a worker's CPU
seconds (``time.process_time``) per request through every middleware, the access check (the
real Redis rate limit when ``--redis-url`` is given), the response cache and the route, for the
requests the load benchmark sends most: a repeated Ergast page, a repeated ``/v1/query`` (both
answered from L1 before routing), and a different Ergast question every request (SQL on the
snapshot). With ``--baseline REV`` that commit's code runs the same requests in alternating
rounds (each version in its own process) and the report adds ratios.

    python bench/api_stack.py [--snapshot data/serving.duckdb] [--requests 5000] [--rounds 3]
        [--concurrent 50] [--redis-url URL] [--baseline REV]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "bench"))

from api import CACHED_SPEC, ERGAST_HOT, analyst_key, export_revision  # noqa: E402  (bench/ is not a package)

# Runs in a fresh interpreter whose working directory is the code version measured.
DRIVER = r"""
import asyncio, gc, json, sys, time
from p3_api.app import create_app

spec, key, n, hot = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
CONCURRENT = int(sys.argv[5])
app = create_app()
body = json.dumps(spec).encode()


async def call(method, path, query=b"", headers=(), payload=b""):
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
        "root_path": "", "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await asyncio.sleep(3600)

    status = []

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


def ergast_question(i):
    season = 1950 + (i * 7) % 75
    if i % 2:
        return f"/ergast/f1/{season}/{1 + (i * 3) % 16}/results.json", b""
    return f"/ergast/f1/{season}/drivers.json", f"limit={30 + i % 70}".encode()


async def main():
    post = [(b"content-type", b"application/json"), (b"accept", b"application/json"),
            (b"x-api-key", key.encode()), (b"content-length", str(len(body)).encode())]
    cases = {
        "ergast_hot": lambda i: call("GET", hot),
        "query_cached": lambda i: call("POST", "/v1/query", headers=post, payload=body),
        "ergast_uncached": lambda i: call("GET", *ergast_question(i)),
    }
    async with app.router.lifespan_context(app):
        out = {}
        for name, request in cases.items():
            for i in range(50):  # warm: imports, connections, the cached answers
                assert await request(i) == 200, name
            count = n if name != "ergast_uncached" else max(n // 20, 50)
            gc.collect()
            started = time.process_time()
            for first in range(0, count, CONCURRENT):  # as many at once as a loaded worker has
                await asyncio.gather(*(request(10_000 + first + i) for i in range(CONCURRENT)))
            out[name] = (time.process_time() - started) / count * 1e6
        print(json.dumps(out))


asyncio.run(main())
"""


def measure(
    root: Path, env: dict[str, str], key: str, requests: int, concurrent: int
) -> dict[str, float]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            DRIVER,
            json.dumps(CACHED_SPEC),
            key,
            str(requests),
            ERGAST_HOT,
            str(concurrent),
        ],
        cwd=root,
        env=os.environ | env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the driver failed in {root}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", type=Path, default=REPO_ROOT / "data" / "serving.duckdb")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--concurrent", type=int, default=50, help="requests in flight at once (asyncio.gather)"
    )
    parser.add_argument("--redis-url", default=None, help="P3_REDIS_URL (rate limits in Redis)")
    parser.add_argument("--baseline", help="a git revision to compare with, e.g. HEAD~1")
    args = parser.parse_args()
    if not args.snapshot.exists():
        raise SystemExit(f"no published snapshot at {args.snapshot}: run `make run` first")
    with tempfile.TemporaryDirectory(prefix="p3-bench-stack-") as tmp:
        folder = Path(tmp)
        key = analyst_key(folder / "home")
        env = {
            "P3_HOME": str(folder / "home"),
            "P3_SERVING_DUCKDB_PATH": str(args.snapshot.resolve()),
            "P3_API_RATE_ANONYMOUS": "100000000/minute",
            "P3_API_RATE_ANALYST": "100000000/minute",
        }
        if args.redis_url:
            env["P3_REDIS_URL"] = args.redis_url
        variants = {"current": REPO_ROOT}
        if args.baseline:
            variants = {
                f"baseline {args.baseline}": export_revision(args.baseline, folder / "baseline"),
                **variants,
            }
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, root in variants.items():
                runs[name].append(measure(root, env, key, args.requests, args.concurrent))
    cases = list(next(iter(runs.values()))[0])
    medians = {
        name: {case: statistics.median(r[case] for r in results) for case in cases}
        for name, results in runs.items()
    }
    names = list(variants)
    lines = [
        f"CPU µs per request through the ASGI stack, {args.concurrent} in flight, "
        f"medians of {args.rounds} alternating rounds "
        f"(load average at the end {os.getloadavg()[0]:.1f}; "
        f"{'rate limits in Redis' if args.redis_url else 'rate limits in memory'})",
        "",
        "| request | " + " | ".join(names) + (" | current / baseline |" if args.baseline else " |"),
        "| --- | " + " | ".join("---:" for _ in names) + (" | ---: |" if args.baseline else " |"),
    ]
    for case in cases:
        cells = [f"{medians[name][case]:,.0f}" for name in names]
        if args.baseline:
            cells.append(f"{medians['current'][case] / medians[names[0]][case]:.2f}")
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
