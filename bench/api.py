"""API benchmark: ``wrk`` against ``python -m p3_api`` (what ``make api`` runs) on this machine.

Scenarios (each a fresh wrk run against the same server, after a warm-up):

- ``ergast_hot``: one hot Ergast endpoint (2023 driver standings), anonymous;
- ``ergast_uncached``: a different Ergast question every request (resource, season, round,
  page), anonymous: what Jolpica's uncached figures measure;
- ``query_cached``: one ``POST /v1/query`` repeated (an L1 hit after the first answer);
- ``query_uncached``: ``POST /v1/query`` with a different question every request (metric,
  seasons and limit);
- ``mixed``: 1,000 connections, a mix of the above and entity lists.

    python bench/api.py [--snapshot data/serving.duckdb] [--workers 2] [--duration 15]
        [--scenario NAME ...] [--connections N ...] [--rounds N] [--redis-url URL|private]
        [--baseline REV]

``--baseline REV`` serves that commit's code (``git archive``, same venv) in alternating rounds
with the working tree's and adds current/baseline ratios.

In the uncached scenarios no request repeats a question an earlier request to that server asked
(each wrk thread and each run numbers its questions from its own block); the ``L1 hits`` column,
read from the server's ``/metrics``, shows it.

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
from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results" / "api.md"

CACHED_SPEC = {
    "entity": "driver",
    "metrics": ["wins", "podiums", "points"],
    "group_by": ["season", "entity"],
    "seasons": "2019-2023",
    "limit": 50,
}

# Every request of an uncached scenario is a question no earlier request to that server asked:
# each wrk thread numbers its requests from its own block (a thread's Lua state is its own, so
# a plain counter would repeat the other thread's questions), each run starts where the last
# one's blocks ended (`-- <start>`), and the number is decoded digit by digit into a question.
LUA_DISTINCT = """
local counter = 0
local threads = 0
function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end
function init(args)
  counter = tonumber(args[1] or "0") + thread_id * %(block)d
end
local function digit(base)
  local d = counter_left %% base
  counter_left = math.floor(counter_left / base)
  return d
end
"""

# A Lua helper for wrk: POST a JSON body; `uncached` makes each request a new question.
LUA_POST = (
    LUA_DISTINCT
    + """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
%(auth)s
local body = '%(body)s'
local metrics = {"wins", "podiums", "points", "poles", "starts", "dnfs"}
local entities = {"driver", "constructor"}
function request()
  if %(uncached)s then
    counter = counter + 1
    counter_left = counter
    local m = metrics[1 + digit(#metrics)]
    local first = 1950 + digit(60)
    local last = first + digit(15)
    local limit = 1 + digit(500)
    local entity = entities[1 + digit(#entities)]
    body = string.format(
      '{"entity":"%%s","metrics":["%%s"],"group_by":["season","entity"],' ..
      '"seasons":"%%d-%%d","limit":%%d}', entity, m, first, last, limit)
  end
  return wrk.format(nil, "/v1/query", nil, body)
end
"""
)

ERGAST_HOT = "/ergast/f1/2023/driverStandings.json"
WARM_UP_SECONDS = 2
SCENARIOS = ("ergast_hot", "ergast_uncached", "query_cached", "query_uncached", "mixed")

# A different Ergast question every request (resource, season, round, page), the kind of
# traffic Jolpica's uncached figures are: every one an L1 miss (the run reports the hits).
LUA_ERGAST_UNCACHED = (
    LUA_DISTINCT
    + """
local per_race = {"results", "qualifying", "driverStandings", "constructorStandings", "pitstops"}
local per_season = {"races", "drivers", "constructors", "driverStandings", "results"}
function request()
  counter = counter + 1
  counter_left = counter
  local kind = digit(10)
  local season = 1950 + digit(75)
  local round = 1 + digit(24)
  local limit = 1 + digit(100)
  local offset = digit(10)
  local path
  if kind < 5 then
    path = string.format("/ergast/f1/%%d/%%d/%%s.json?limit=%%d&offset=%%d", season, round,
                         per_race[kind + 1], limit, offset)
  else
    path = string.format("/ergast/f1/%%d/%%s.json?limit=%%d&offset=%%d", season,
                         per_season[kind - 4], limit, (round - 1) * 10 + offset)
  end
  return wrk.format("GET", path)
end
"""
)

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
    cpu_us: float = float("nan")  # server CPU (workers, and a private Redis) per request
    p99_rounds: tuple[float, ...] = ()  # each round's p99, when this is a median of rounds
    l1_hit_share: float = float("nan")  # answers the response cache (L1) held already

    def row(self) -> str:
        error_rate = self.errors / self.requests if self.requests else 0.0
        rounds = ", ".join(f"{p:,.0f}" for p in self.p99_rounds)
        return (
            f"| {self.scenario} | {self.connections} | {self.requests_per_s:,.0f} | "
            f"{self.p50_ms:,.1f} | {self.p99_ms:,.1f} | {rounds} | {self.cpu_us:,.0f} | "
            f"{self.l1_hit_share:.1%} | {self.requests:,} | {self.errors:,} ({error_rate:.2%}) |"
        )


def l1_hits(base: str) -> float:
    """The server's L1 hits so far (``/metrics``, every worker)."""
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "p3_api_response_cache"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels == {"tier": "l1", "result": "hit"}
    )


def cpu_seconds(roots: list[int]) -> float:
    """User + system CPU seconds used so far by ``roots`` and their descendants (from /proc).

    The server's CPU per request does not depend on how busy the machine is the way req/s and
    latency do, so it compares two versions of the code on a shared machine."""
    tree: dict[int, tuple[int, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        tree[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    wanted, frontier = set(roots), list(roots)
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _) in tree.items() if ppid == parent]
        wanted.update(children)
        frontier.extend(children)
    ticks = sum(tree[pid][1] for pid in wanted if pid in tree)
    return ticks / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    root: Path, snapshot: Path, home: Path, workers: int, env: dict[str, str]
) -> tuple[subprocess.Popen, str]:
    """``python -m p3_api`` of the code at ``root`` (its folder first on the import path)."""
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
        cwd=root,
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


# Questions a wrk thread may ask in one run. A server lives through at most 14 runs (warm-ups
# included): 14 x 2 x 150,000 = 4.2 M numbers, fewer than either space (Ergast 18 M, /v1 5.4 M).
THREAD_BLOCK = 150_000
_next_start = 0  # where the next run's blocks start: no run repeats an earlier run's questions


def run_wrk(
    base: str, scenario: str, connections: int, duration: int, script: Path | None, path: str = "/"
) -> WrkResult:
    global _next_start
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
    command += [base + path, "--", str(_next_start)]
    _next_start += threads * THREAD_BLOCK
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
        statistics.median(r.cpu_us for r in runs),
        tuple(r.p99_ms for r in runs),
        statistics.median(r.l1_hit_share for r in runs),
    )


def lua(folder: Path, name: str, template: str, *, uncached: bool = False, auth: str = "") -> Path:
    path = folder / f"{name}.lua"
    path.write_text(
        template
        % {
            "body": json.dumps(CACHED_SPEC),
            "uncached": "true" if uncached else "false",
            "auth": auth,
            "block": THREAD_BLOCK,
        }
    )
    return path


def analyst_key(home: Path) -> str:
    """A new analyst API key in the key store of the server's ``P3_HOME``: /v1/query needs one
    (the Ergast reads do not)."""
    from p3_api.auth.credentials import Role
    from p3_api.auth.store import SqliteStore

    _, key = SqliteStore(home / "api" / "keys.sqlite3").create("api_key", "bench", Role.analyst)
    return key


def export_revision(rev: str, into: Path) -> Path:
    """The tree of commit ``rev`` extracted into ``into`` (the checkout is not touched)."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=REPO_ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def wait_idle(servers: list[int], timeout: float = 60.0) -> None:
    """Until the server has finished what the last run left queued (an uncached run at 500
    connections leaves seconds of SQL behind wrk's stop), so it does not slow the next run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(servers)
        time.sleep(0.5)
        if cpu_seconds(servers) - before < 0.05:  # under 10% of a core
            return


def measure_round(
    root: Path,
    args: argparse.Namespace,
    folder: Path,
    env: dict[str, str],
    key: str,
    plan: list[tuple[str, int]],
    scripts: dict[str, Path | None],
) -> dict[tuple[str, int], WrkResult]:
    """One server of the code at ``root``, warmed, then every step of ``plan`` once."""
    redis = None
    if args.redis_url == "private":
        # A fresh Redis per round: no round answers from query-cache entries an earlier one left.
        port = free_port()
        redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        env = env | {"P3_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    process, base = start_server(root, args.snapshot, folder / "home", args.workers, env)
    try:
        headers = {"Content-Type": "application/json", "X-API-Key": key}
        httpx.post(f"{base}/v1/query", json=CACHED_SPEC, headers=headers, timeout=30)
        httpx.get(f"{base}{ERGAST_HOT}", timeout=30).raise_for_status()
        servers = [process.pid] + ([redis.pid] if redis is not None else [])
        # Every worker warmed on every scenario (two requests reach one worker; the other would
        # open its snapshot connections and import its routes while the first run measures).
        for scenario in dict.fromkeys(step[0] for step in plan):
            path = ERGAST_HOT if scenario == "ergast_hot" else "/"
            run_wrk(base, scenario, 50, WARM_UP_SECONDS, scripts[scenario], path)
        wait_idle(servers)
        results = {}
        for scenario, connections in plan:
            before, hits_before = cpu_seconds(servers), l1_hits(base)
            result = run_wrk(
                base,
                scenario,
                connections,
                args.duration,
                scripts[scenario],
                ERGAST_HOT if scenario == "ergast_hot" else "/",
            )
            used = cpu_seconds(servers) - before
            result.cpu_us = used / result.requests * 1e6 if result.requests else float("nan")
            hits = l1_hits(base) - hits_before
            result.l1_hit_share = hits / result.requests if result.requests else float("nan")
            results[(scenario, connections)] = result
            wait_idle(servers)
        return results
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=30)


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
        help="P3_REDIS_URL for the server: rate limits and the query cache shared through Redis; "
        "'private' starts a fresh redis-server for each round (default: none, per-process "
        "limits and the embedded cache).",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="Runs per scenario; medians reported."
    )
    parser.add_argument(
        "--baseline",
        help="A git revision to compare with (e.g. HEAD~1): its code serves in alternating "
        "rounds with the working tree's, from the same venv, and the report adds ratios.",
    )
    args = parser.parse_args()
    wanted = set(args.scenario or SCENARIOS)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    if not args.snapshot.exists():
        raise SystemExit(f"no published snapshot at {args.snapshot}: run `make run` first")
    with tempfile.TemporaryDirectory(prefix="p3-bench-api-") as tmp:
        folder = Path(tmp)
        key = analyst_key(folder / "home")
        auth = f'wrk.headers["X-API-Key"] = "{key}"'
        # Limits far above what one machine can send: the benchmark measures serving, not 429s.
        env = {
            "P3_API_RATE_ANONYMOUS": "100000000/minute",
            "P3_API_RATE_VIEWER": "100000000/minute",
            "P3_API_RATE_ANALYST": "100000000/minute",
            "P3_API_RATE_ADMIN": "100000000/minute",
        }
        if args.redis_url and args.redis_url != "private":
            env["P3_REDIS_URL"] = args.redis_url
        scripts: dict[str, Path | None] = {
            "ergast_hot": None,
            "query_cached": lua(folder, "cached", LUA_POST, auth=auth),
            "query_uncached": lua(folder, "uncached", LUA_POST, uncached=True, auth=auth),
            "ergast_uncached": lua(folder, "ergast_uncached", LUA_ERGAST_UNCACHED),
            "mixed": lua(folder, "mixed", LUA_MIXED, auth=auth),
        }
        plan = [
            (scenario, connections)
            for connections in args.connections or (50, 500)
            for scenario in ("ergast_hot", "ergast_uncached", "query_cached", "query_uncached")
            if scenario in wanted
        ]
        if "mixed" in wanted:
            plan.append(("mixed", 1000))
        variants = {"current": REPO_ROOT}
        if args.baseline:
            variants = {
                f"baseline {args.baseline}": export_revision(args.baseline, folder / "baseline"),
                **variants,
            }
        runs: dict[str, dict[tuple[str, int], list[WrkResult]]] = {
            name: {step: [] for step in plan} for name in variants
        }
        # Rounds interleave scenarios and variants, so the machine's noise spreads evenly.
        for _ in range(args.rounds):
            for name, root in variants.items():
                measured = measure_round(root, args, folder, env, key, plan, scripts)
                for step, result in measured.items():
                    runs[name][step].append(result)
    results = {name: [median_result(runs[name][step]) for step in plan] for name in variants}
    load = os.getloadavg()[0]
    lines = [
        f"API benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"{args.workers} workers, wrk {args.duration}s per scenario, medians of {args.rounds} "
        f"round(s), snapshot {args.snapshot.name}, "
        f"{'Redis' if args.redis_url else 'no Redis (per-process limits, embedded cache)'}, "
        f"load average at the end {load:.1f}",
    ]
    for name in variants:
        lines += [
            "",
            f"**{name}**",
            "",
            "| scenario | connections | req/s | p50 ms | p99 ms | p99 ms per round "
            "| server CPU µs/request | L1 hits | requests | errors |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *(r.row() for r in results[name]),
        ]
    if args.baseline:
        base, current = results[f"baseline {args.baseline}"], results["current"]
        lines += [
            "",
            "| scenario | connections | req/s current / baseline | p99 current / baseline "
            "| CPU per request current / baseline |",
            "| --- | --- | ---: | ---: | ---: |",
            *(
                f"| {b.scenario} | {b.connections} | "
                f"{c.requests_per_s / b.requests_per_s:.2f} | {c.p99_ms / b.p99_ms:.2f} | "
                f"{c.cpu_us / b.cpu_us:.2f} |"
                for b, c in zip(base, current, strict=True)
            ),
        ]
    table = "\n".join(lines) + "\n"
    print(table)
    RESULTS.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
