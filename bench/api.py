"""API benchmark: ``wrk`` against ``python -m p3_api`` (what ``make api`` runs) on this machine.

Scenarios (each a fresh wrk run against the same server, after a warm-up):

- ``ergast_hot``: one hot Ergast endpoint (2023 driver standings), anonymous;
- ``ergast_uncached``: a different Ergast question every request (season, round, resource,
  page), anonymous: what Jolpica's uncached figures measure;
- ``query_cached``: one ``POST /v1/query`` repeated (an L1 hit after the first answer);
- ``query_uncached``: ``POST /v1/query`` with a different question every request (ids, seasons
  and limits drawn from a large space: misses in both tiers until it wraps around);
- ``mixed``: 1,000 connections, a mix of the above and entity lists.

    python bench/api.py [--snapshot data/serving.duckdb] [--workers 2] [--duration 15]
        [--scenario NAME ...] [--connections N ...] [--rounds N] [--redis-url URL]

wrk runs on the same 2-core machine as the server, so every figure includes its CPU share.
Results: ``bench/results/api.md`` and the BENCHMARKS.md section.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results" / "api.md"

CACHED_SPEC = {
    "entity": "driver",
    "metrics": ["wins", "podiums", "points"],
    "group_by": ["season", "entity"],
    "seasons": "2019-2023",
    "limit": 50,
}

# A Lua helper for wrk: POST a JSON body; `uncached` makes each request a new question.
LUA_POST = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
%(auth)s
local body = '%(body)s'
local counter = 0
local metrics = {"wins", "podiums", "points", "poles", "starts", "dnfs"}
function request()
  if %(uncached)s then
    counter = counter + 1
    local first = 1950 + (counter * 7 + math.random(0, 40)) %% 60
    local last = first + math.random(0, 14)
    local limit = 1 + (counter * 13 + math.random(0, 500)) %% 500
    local m = metrics[1 + (counter %% #metrics)]
    body = string.format(
      '{"entity":"driver","metrics":["%%s"],"group_by":["season","entity"],' ..
      '"seasons":"%%d-%%d","limit":%%d}', m, first, last, limit)
  end
  return wrk.format(nil, "/v1/query", nil, body)
end
"""

SCENARIOS = ("ergast_hot", "ergast_uncached", "query_cached", "query_uncached", "mixed")

# A different Ergast question every request (season, round and resource vary; the page too), the
# kind of traffic Jolpica's uncached figures are: misses in L1 until it wraps around.
LUA_ERGAST_UNCACHED = """
local counter = 0
local per_race = {"results", "qualifying", "driverStandings", "constructorStandings", "pitstops"}
local per_season = {"races", "drivers", "constructors", "driverStandings", "results"}
function request()
  counter = counter + 1
  local season = 1950 + (counter * 7 + math.random(0, 74)) %% 75
  local path
  if counter %% 2 == 0 then
    local round = 1 + (counter * 3) %% 16
    path = string.format("/ergast/f1/%%d/%%d/%%s.json", season, round,
                         per_race[1 + (counter %% #per_race)])
  else
    path = string.format("/ergast/f1/%%d/%%s.json?limit=%%d", season,
                         per_season[1 + (counter %% #per_season)], 30 + counter %% 70)
  end
  return wrk.format("GET", path)
end
"""

LUA_MIXED = """
%(auth)s
local counter = 0
local paths = {"/ergast/f1/2023/driverStandings.json", "/v1/drivers?limit=30",
               "/v1/races?season=2023", "/ergast/f1/2021/results.json?limit=100"}
local body = '%(body)s'
function request()
  counter = counter + 1
  if counter %% 3 == 0 then
    wrk.headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/v1/query", nil, body)
  end
  return wrk.format("GET", paths[1 + (counter %% #paths)])
end
"""


@dataclass
class WrkResult:
    scenario: str
    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int

    def row(self) -> str:
        error_rate = self.errors / self.requests if self.requests else 0.0
        return (
            f"| {self.scenario} | {self.connections} | {self.requests_per_s:,.0f} | "
            f"{self.p50_ms:,.1f} | {self.p99_ms:,.1f} | {self.requests:,} | "
            f"{self.errors:,} ({error_rate:.2%}) |"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    snapshot: Path, home: Path, workers: int, env: dict[str, str]
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    environment = os.environ | {
        "P3_HOME": str(home),
        "P3_SERVING_DUCKDB_PATH": str(snapshot),
        "P3_API_PORT": str(port),
        "P3_API_WORKERS": str(workers),
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "p3_api"],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit(f"the API did not become ready on {base} (is {snapshot} published?)")


def parse_wrk(scenario: str, connections: int, output: str) -> WrkResult:
    def ms(value: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    latency = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)", output, re.M))
    total = re.search(r"(\d+) requests in", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return WrkResult(
        scenario,
        connections,
        float(rps.group(1)) if rps else 0.0,
        ms(latency["50"]) if "50" in latency else float("nan"),
        ms(latency["99"]) if "99" in latency else float("nan"),
        int(total.group(1)) if total else 0,
        errors,
    )


def run_wrk(
    base: str, scenario: str, connections: int, duration: int, script: Path | None, path: str = "/"
) -> WrkResult:
    threads = min(2, connections)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if script is not None:
        command += ["-s", str(script)]
    command.append(base + path)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return parse_wrk(scenario, connections, done.stdout + done.stderr)


def median_result(runs: list[WrkResult]) -> WrkResult:
    """The median of each figure over repeated runs of one scenario (errors: summed)."""
    first = runs[0]
    return WrkResult(
        first.scenario,
        first.connections,
        statistics.median(r.requests_per_s for r in runs),
        statistics.median(r.p50_ms for r in runs),
        statistics.median(r.p99_ms for r in runs),
        sum(r.requests for r in runs),
        sum(r.errors for r in runs),
    )


def lua(folder: Path, name: str, template: str, *, uncached: bool = False, auth: str = "") -> Path:
    path = folder / f"{name}.lua"
    path.write_text(
        template
        % {
            "body": json.dumps(CACHED_SPEC),
            "uncached": "true" if uncached else "false",
            "auth": auth,
        }
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", type=Path, default=REPO_ROOT / "data" / "serving.duckdb")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="Run only these scenarios (repeatable; default: all).",
    )
    parser.add_argument(
        "--connections", type=int, action="append", help="Connection counts (default: 50 and 500)."
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="P3_REDIS_URL for the server: rate limits and the query cache shared through Redis "
        "(default: none, per-process limits and the embedded cache).",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="Runs per scenario; medians reported."
    )
    args = parser.parse_args()
    wanted = set(args.scenario or SCENARIOS)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    if not args.snapshot.exists():
        raise SystemExit(f"no published snapshot at {args.snapshot}: run `make run` first")
    with tempfile.TemporaryDirectory(prefix="p3-bench-api-") as tmp:
        folder = Path(tmp)
        # An analyst key in the server's own store: /v1/query needs one (the Ergast reads do not).
        from p3_api.auth.credentials import Role
        from p3_api.auth.store import SqliteStore

        _, key = SqliteStore(folder / "home" / "api" / "keys.sqlite3").create(
            "api_key", "bench", Role.analyst
        )
        auth = f'wrk.headers["X-API-Key"] = "{key}"'
        # Limits far above what one machine can send: the benchmark measures serving, not 429s.
        env = {
            "P3_API_RATE_ANONYMOUS": "100000000/minute",
            "P3_API_RATE_VIEWER": "100000000/minute",
            "P3_API_RATE_ANALYST": "100000000/minute",
            "P3_API_RATE_ADMIN": "100000000/minute",
        }
        if args.redis_url:
            env["P3_REDIS_URL"] = args.redis_url
        process, base = start_server(args.snapshot, folder / "home", args.workers, env)
        try:
            headers = {"Content-Type": "application/json", "X-API-Key": key}
            httpx.post(f"{base}/v1/query", json=CACHED_SPEC, headers=headers, timeout=30)
            hot = httpx.get(f"{base}/ergast/f1/2023/driverStandings.json", timeout=30)
            if hot.status_code != 200:
                wanted.discard("ergast_hot")
            scripts = {
                "ergast_hot": None,
                "query_cached": lua(folder, "cached", LUA_POST, auth=auth),
                "query_uncached": lua(folder, "uncached", LUA_POST, uncached=True, auth=auth),
                "ergast_uncached": lua(folder, "ergast_uncached", LUA_ERGAST_UNCACHED),
            }
            paths = {"ergast_hot": "/ergast/f1/2023/driverStandings.json"}
            plan = [
                (scenario, connections)
                for connections in args.connections or (50, 500)
                for scenario in ("ergast_hot", "ergast_uncached", "query_cached", "query_uncached")
                if scenario in wanted
            ]
            if "mixed" in wanted:
                scripts["mixed"] = lua(folder, "mixed", LUA_MIXED, auth=auth)
                plan.append(("mixed", 1000))
            runs: dict[tuple[str, int], list[WrkResult]] = {step: [] for step in plan}
            for _ in range(args.rounds):  # rounds interleave scenarios, so noise spreads evenly
                for scenario, connections in plan:
                    runs[(scenario, connections)].append(
                        run_wrk(
                            base,
                            scenario,
                            connections,
                            args.duration,
                            scripts[scenario],
                            paths.get(scenario, "/"),
                        )
                    )
            results = [median_result(runs[step]) for step in plan]
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    header = (
        f"API benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"{args.workers} workers, wrk {args.duration}s per scenario, medians of {args.rounds} "
        f"round(s), snapshot {args.snapshot.name}, "
        f"{'Redis' if args.redis_url else 'no Redis (per-process limits, embedded cache)'}\n\n"
        "| scenario | connections | req/s | p50 ms | p99 ms | requests | errors |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
    )
    table = header + "\n".join(r.row() for r in results) + "\n"
    print(table)
    RESULTS.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
