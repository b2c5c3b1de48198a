"""A real local HTTP server serving the Ergast JSON API from the shared CSVs, with faults."""

from __future__ import annotations

import csv
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from p3_common.ergast import TABLES, snake_case
from p3_ingest.sources import schema

API_PREFIX = "/ergast/f1"
DEFAULT_LIMIT = 30  # Ergast/Jolpica defaults
MAX_LIMIT = 100

Row = dict[str, str | None]
Json = dict[str, Any]


# --------------------------------------------------------------------------- CSV data


def read_csv_rows(path: Path, keep: Callable[[Row], bool] | None = None) -> list[Row]:
    """Rows of an Ergast CSV as strings, exactly as written; ``\\N`` becomes None, "" stays ""."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = (
            {k: None if v == "\\N" else v for k, v in row.items()} for row in csv.DictReader(handle)
        )
        return [row for row in rows if keep is None or keep(row)]


class ErgastData:
    """The CSV rows the server answers from: reference tables whole, race tables of ``seasons``."""

    def __init__(self, ergast_dir: Path, seasons: Iterable[int]) -> None:
        self.seasons = sorted(seasons)
        read = lambda name, keep=None: read_csv_rows(ergast_dir / f"{name}.csv", keep)  # noqa: E731
        self.races = {r["raceId"]: r for r in read("races")}
        served = {rid for rid, r in self.races.items() if int(r["year"] or 0) in self.seasons}
        in_served: Callable[[Row], bool] = lambda row: row["raceId"] in served  # noqa: E731
        self.circuits = {r["circuitId"]: r for r in read("circuits")}
        self.drivers = {r["driverId"]: r for r in read("drivers")}
        self.constructors = {r["constructorId"]: r for r in read("constructors")}
        self.status = {r["statusId"]: r for r in read("status")}
        self.season_rows = read("seasons")
        all_results = read("results")
        self.status_counts = Counter(r["statusId"] for r in all_results)
        extra_laps = ergast_dir / "extra" / "lap_times_2023_four_races.csv"
        self.by_race: dict[str, dict[str, list[Row]]] = {}
        tables = {
            "results": [r for r in all_results if in_served(r)],
            "sprint_results": read("sprint_results", in_served),
            "qualifying": read("qualifying", in_served),
            "pit_stops": read("pit_stops", in_served),
            "driver_standings": read("driver_standings", in_served),
            "constructor_standings": read("constructor_standings", in_served),
            "lap_times": read("lap_times", in_served)
            + (read_csv_rows(extra_laps, in_served) if extra_laps.is_file() else []),
        }
        for table, rows in tables.items():
            grouped: dict[str, list[Row]] = defaultdict(list)
            for row in rows:
                grouped[row["raceId"]].append(row)
            self.by_race[table] = grouped

    def race(self, season: int, round_: int) -> Row | None:
        """The races.csv row of one round of a served season."""
        if season not in self.seasons:
            return None
        for race in self.races.values():
            if race["year"] == str(season) and race["round"] == str(round_):
                return race
        return None

    def season_races(self, season: int) -> list[Row]:
        """Races of a served season, by round."""
        if season not in self.seasons:
            return []
        races = [r for r in self.races.values() if r["year"] == str(season)]
        return sorted(races, key=lambda r: int(r["round"] or 0))


# --------------------------------------------------------------------------- JSON shapes


def _compact(obj: Json) -> Json:
    # Jolpica drops null fields: optional values are absent, never null.
    return {k: v for k, v in obj.items() if v is not None}


def _session(date: str | None, time_: str | None) -> Json | None:
    if date is None and time_ is None:
        return None
    return _compact({"date": date, "time": f"{time_}Z" if time_ else None})


class ErgastApi:
    """Builds Ergast-format responses (all values strings, real pagination) from ``ErgastData``."""

    def __init__(self, data: ErgastData) -> None:
        self.data = data
        self._teams = self._driver_teams()

    # -- routing

    def respond(self, path: str, query: dict[str, str], host: str) -> tuple[int, Json]:
        """HTTP status and JSON body for a GET of ``path`` (``/ergast/f1/...``) with ``query``."""
        if not path.lower().startswith(API_PREFIX):
            return 404, {"detail": "Not found."}
        rest = path[len(API_PREFIX) :].strip("/")
        rest = rest[: -len(".json")] if rest.endswith(".json") else rest
        parts = [p for p in rest.split("/") if p]
        try:
            limit = min(int(query.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
            offset = int(query.get("offset", 0))
        except ValueError:
            return 400, {"detail": "limit and offset must be integers"}
        if limit < 1 or offset < 0:
            return 400, {"detail": "limit must be >= 1 and offset >= 0"}
        listing = self._route(parts)
        if listing is None:
            return 404, {"detail": "Not found."}
        table_key, criteria, list_key, rows, nest = listing
        page = rows[offset : offset + limit]
        body = {
            "MRData": {
                "xmlns": "",
                "series": "f1",
                "url": f"http://{host}{path}".lower(),
                "limit": str(limit),
                "offset": str(offset),
                "total": str(len(rows)),
                table_key: {**criteria, list_key: nest(page)},
            }
        }
        return 200, body

    def _route(self, parts: list[str]) -> tuple[str, Json, str, list[Any], Callable] | None:
        flat = lambda page: list(page)  # noqa: E731
        reference = {
            "seasons": ("SeasonTable", "Seasons", self._seasons),
            "drivers": ("DriverTable", "Drivers", self._drivers),
            "constructors": ("ConstructorTable", "Constructors", self._constructors),
            "circuits": ("CircuitTable", "Circuits", self._circuits),
            "status": ("StatusTable", "Status", self._statuses),
        }
        if len(parts) == 1 and parts[0].lower() in reference:
            table_key, list_key, build = reference[parts[0].lower()]
            return table_key, {}, list_key, build(), flat
        if not parts or not parts[0].isdigit():
            return None
        season = int(parts[0])
        criteria = {"season": str(season)}
        if len(parts) == 1 or (len(parts) == 2 and parts[1].lower() == "races"):
            races = [self._schedule_race(r) for r in self.data.season_races(season)]
            return "RaceTable", criteria, "Races", races, flat
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        round_ = int(parts[1])
        criteria["round"] = str(round_)
        resource = parts[2].lower()
        race = self.data.race(season, round_)
        if resource in _RACE_RESOURCES:
            rows = self._race_rows(resource, race) if race else []
            return "RaceTable", criteria, "Races", rows, self._nest_races(resource)
        if resource in _STANDINGS_RESOURCES:
            rows = self._standing_rows(resource, race) if race else []
            return (
                "StandingsTable",
                criteria,
                "StandingsLists",
                rows,
                self._nest_standings(resource),
            )
        return None

    # -- reference lists

    def _seasons(self) -> list[Json]:
        rows = sorted(self.data.season_rows, key=lambda r: int(r["year"] or 0))
        return [{"season": r["year"], "url": r["url"]} for r in rows]

    def _drivers(self) -> list[Json]:
        return [self._driver(r) for r in sorted(self.data.drivers.values(), key=_by("driverRef"))]

    def _constructors(self) -> list[Json]:
        rows = sorted(self.data.constructors.values(), key=_by("constructorRef"))
        return [self._constructor(r) for r in rows]

    def _circuits(self) -> list[Json]:
        rows = sorted(self.data.circuits.values(), key=_by("circuitRef"))
        return [self._circuit(r) for r in rows]

    def _statuses(self) -> list[Json]:
        rows = sorted(self.data.status.values(), key=lambda r: int(r["statusId"] or 0))
        return [
            {
                "statusId": r["statusId"],
                "count": str(self.data.status_counts.get(r["statusId"], 0)),
                "status": r["status"],
            }
            for r in rows
        ]

    def _driver(self, row: Row) -> Json:
        return _compact(
            {
                "driverId": row["driverRef"],
                "permanentNumber": row["number"],
                "code": row["code"],
                "url": row["url"],
                "givenName": row["forename"],
                "familyName": row["surname"],
                "dateOfBirth": row["dob"],
                "nationality": row["nationality"],
            }
        )

    def _constructor(self, row: Row) -> Json:
        return _compact(
            {
                "constructorId": row["constructorRef"],
                "url": row["url"],
                "name": row["name"],
                "nationality": row["nationality"],
            }
        )

    def _circuit(self, row: Row) -> Json:
        return _compact(
            {
                "circuitId": row["circuitRef"],
                "url": row["url"],
                "circuitName": row["name"],
                "Location": _compact(
                    {
                        "lat": row["lat"],
                        "long": row["lng"],
                        "locality": row["location"],
                        "country": row["country"],
                    }
                ),
            }
        )

    # -- races

    def _race_base(self, race: Row) -> Json:
        return _compact(
            {
                "season": race["year"],
                "round": race["round"],
                "url": race["url"],
                "raceName": race["name"],
                "Circuit": self._circuit(self.data.circuits[race["circuitId"] or ""]),
                "date": race["date"],
                "time": f"{race['time']}Z" if race["time"] else None,
            }
        )

    def _schedule_race(self, race: Row) -> Json:
        # Session keys follow Jolpica's ListRaceSerializer: sprint weekends of 2021-22 keep
        # SecondPractice; 2023 calls the fp2 slot SprintShootout and 2024+ SprintQualifying.
        def sess(prefix: str) -> Json | None:
            return _session(race[f"{prefix}_date"], race[f"{prefix}_time"])

        year = int(race["year"] or 0)
        sprint_weekend = race["sprint_date"] is not None or race["sprint_time"] is not None
        sessions: Json = {"FirstPractice": sess("fp1")}
        if not sprint_weekend:
            sessions |= {"SecondPractice": sess("fp2"), "ThirdPractice": sess("fp3")}
        elif year <= 2022:
            sessions["SecondPractice"] = sess("fp2")
        sessions["Qualifying"] = sess("quali")
        if sprint_weekend:
            sessions["Sprint"] = sess("sprint")
            if year == 2023:
                sessions["SprintShootout"] = sess("fp2")
            elif year >= 2024:
                sessions["SprintQualifying"] = sess("fp2")
        return {**self._race_base(race), **_compact(sessions)}

    def _race_rows(self, resource: str, race: Row) -> list[tuple[Row, Any, Json]]:
        table, sort_key, build = {
            "results": ("results", _by_int("positionOrder"), self._result),
            "sprint": ("sprint_results", _by_int("positionOrder"), self._result),
            "qualifying": ("qualifying", _by_int("position"), self._qualifying),
            "laps": ("lap_times", lambda r: (int(r["lap"]), int(r["position"])), self._timing),
            "pitstops": ("pit_stops", lambda r: (int(r["lap"]), r["time"] or ""), self._pit_stop),
        }[resource]
        rows = sorted(self.data.by_race[table].get(race["raceId"] or "", []), key=sort_key)
        lap = (lambda r: r["lap"]) if resource == "laps" else (lambda r: None)
        return [(race, lap(r), build(r)) for r in rows]

    def _nest_races(self, resource: str) -> Callable[[list[tuple[Row, Any, Json]]], list[Json]]:
        payload_key = _RACE_RESOURCES[resource]

        def nest(page: list[tuple[Row, Any, Json]]) -> list[Json]:
            races: list[Json] = []
            last_race: str | None = None
            for race, lap, item in page:
                if race["raceId"] != last_race:
                    races.append({**self._race_base(race), payload_key: []})
                    last_race = race["raceId"]
                payload = races[-1][payload_key]
                if resource != "laps":
                    payload.append(item)
                    continue
                if not payload or payload[-1]["number"] != lap:
                    payload.append({"number": lap, "Timings": []})
                payload[-1]["Timings"].append(item)
            return races

        return nest

    def _result(self, row: Row) -> Json:
        fastest: Json | None = None
        if row["fastestLap"] is not None:
            speed = row.get("fastestLapSpeed")
            fastest = _compact(
                {
                    "rank": row.get("rank"),
                    "lap": row["fastestLap"],
                    "Time": _compact({"time": row["fastestLapTime"]}) or None,
                    "AverageSpeed": {"units": "kph", "speed": speed} if speed else None,
                }
            )
        timing = None
        if row["milliseconds"] is not None:
            timing = _compact({"millis": row["milliseconds"], "time": row["time"]})
        return _compact(
            {
                "number": row["number"],
                "position": row["positionOrder"],
                "positionText": row["positionText"],
                "points": row["points"],
                "Driver": self._driver(self.data.drivers[row["driverId"] or ""]),
                "Constructor": self._constructor(
                    self.data.constructors[row["constructorId"] or ""]
                ),
                "grid": row["grid"],
                "laps": row["laps"],
                "status": self.data.status[row["statusId"] or ""]["status"],
                "Time": timing,
                "FastestLap": fastest,
            }
        )

    def _qualifying(self, row: Row) -> Json:
        # Jolpica writes "" for a session entered without a time, and omits sessions not reached.
        return _compact(
            {
                "number": row["number"],
                "position": row["position"],
                "Driver": self._driver(self.data.drivers[row["driverId"] or ""]),
                "Constructor": self._constructor(
                    self.data.constructors[row["constructorId"] or ""]
                ),
                "Q1": row["q1"],
                "Q2": row["q2"],
                "Q3": row["q3"],
            }
        )

    def _timing(self, row: Row) -> Json:
        ref = self.data.drivers[row["driverId"] or ""]["driverRef"]
        return {"driverId": ref, "position": row["position"], "time": row["time"]}

    def _pit_stop(self, row: Row) -> Json:
        return {
            "driverId": self.data.drivers[row["driverId"] or ""]["driverRef"],
            "lap": row["lap"],
            "stop": row["stop"],
            "time": row["time"],
            "duration": row["duration"],
        }

    # -- standings

    def _driver_teams(self) -> dict[tuple[str, str], list[tuple[int, str]]]:
        # (season, driverId) -> [(round, constructorId)] from race results: Constructors[] of a
        # driver standing lists the teams driven for up to that round.
        teams: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
        for race_id, rows in self.data.by_race["results"].items():
            race = self.data.races[race_id]
            for row in rows:
                key = (race["year"] or "", row["driverId"] or "")
                teams[key].append((int(race["round"] or 0), row["constructorId"] or ""))
        return teams

    def _standing_rows(self, resource: str, race: Row) -> list[tuple[Row, Any, Json]]:
        table = "driver_standings" if resource == "driverstandings" else "constructor_standings"
        rows = sorted(
            self.data.by_race[table].get(race["raceId"] or "", []), key=_by_int("position")
        )
        build = self._driver_standing if table == "driver_standings" else self._team_standing
        return [(race, None, build(row, race)) for row in rows]

    def _nest_standings(self, resource: str) -> Callable[[list[tuple[Row, Any, Json]]], list[Json]]:
        key = "DriverStandings" if resource == "driverstandings" else "ConstructorStandings"

        def nest(page: list[tuple[Row, Any, Json]]) -> list[Json]:
            if not page:
                return []
            race = page[0][0]
            return [{"season": race["year"], "round": race["round"], key: [i for *_, i in page]}]

        return nest

    def _driver_standing(self, row: Row, race: Row) -> Json:
        seen: list[str] = []
        for round_, team in sorted(
            self._teams.get((race["year"] or "", row["driverId"] or ""), [])
        ):
            if round_ <= int(race["round"] or 0) and team not in seen:
                seen.append(team)
        return {
            **_standing_values(row),
            "Driver": self._driver(self.data.drivers[row["driverId"] or ""]),
            "Constructors": [self._constructor(self.data.constructors[t]) for t in seen],
        }

    def _team_standing(self, row: Row, race: Row) -> Json:
        return {
            **_standing_values(row),
            "Constructor": self._constructor(self.data.constructors[row["constructorId"] or ""]),
        }


_RACE_RESOURCES = {
    "results": "Results",
    "sprint": "SprintResults",
    "qualifying": "QualifyingResults",
    "laps": "Laps",
    "pitstops": "PitStops",
}
_STANDINGS_RESOURCES = ("driverstandings", "constructorstandings")


def _standing_values(row: Row) -> Json:
    return _compact(
        {
            "position": row["position"],
            "positionText": row["positionText"],
            "points": row["points"],
            "wins": row["wins"],
        }
    )


def _by(column: str) -> Callable[[Row], str]:
    return lambda row: row[column] or ""


def _by_int(column: str) -> Callable[[Row], int]:
    return lambda row: int(row[column] or 0)


# --------------------------------------------------------------------------- the server


@dataclass
class Fault:
    """A misbehaviour for matching requests: ``times`` more of them (None: every one)."""

    kind: str  # "status" | "slow" | "truncate" | "no_mrdata" | "total" | "trickle"
    times: int | None
    path: str | None  # substring of the request path; None matches every path
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0
    total_delta: int = 0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    client_port: int  # the client's source port: one port for many requests = a reused connection
    at: float  # the server's clock (a test's fake clock, when given)


class JolpicaTestServer:
    """A ``ThreadingHTTPServer`` on a free loopback port serving ``ErgastApi``, HTTP/1.1 keep-alive.

    Tests tell it to misbehave (``fail_next``, ``slow_next``, ``trickle_next``, ``truncate_next``,
    ``drop_mrdata_next``, ``shift_total_next``) for the next N requests or for every request to a path, and read back
    ``requests`` to assert what a client asked for.
    """

    def __init__(self, api: ErgastApi, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self.clock = clock
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._httpd = _HttpServer(("127.0.0.1", 0), self)
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:54321/ergast/f1``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{API_PREFIX}"

    def start(self) -> JolpicaTestServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- faults

    def fail_next(
        self,
        status: int,
        *,
        times: int | None = 1,
        path: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        """Answer HTTP ``status`` (e.g. 429 with ``retry_after``, 500, 503)."""
        self._add(Fault("status", times, path, status=status, retry_after=retry_after))

    def slow_next(self, delay: float, *, times: int | None = 1, path: str | None = None) -> None:
        """Wait ``delay`` seconds before answering (beyond a client's timeout)."""
        self._add(Fault("slow", times, path, delay=delay))

    def trickle_next(
        self, interval: float, *, times: int | None = 1, path: str | None = None
    ) -> None:
        """Send the headers at once, then the body one byte every ``interval`` seconds.

        Each read gets a byte well within any read timeout, so only an overall deadline ends it.
        """
        self._add(Fault("trickle", times, path, delay=interval))

    def truncate_next(self, *, times: int | None = 1, path: str | None = None) -> None:
        """Answer 200 with the first half of the JSON body (Content-Length matching)."""
        self._add(Fault("truncate", times, path))

    def drop_mrdata_next(self, *, times: int | None = 1, path: str | None = None) -> None:
        """Answer 200 with valid JSON that has no ``MRData``."""
        self._add(Fault("no_mrdata", times, path))

    def shift_total_next(
        self, delta: int, *, times: int | None = 1, path: str | None = None
    ) -> None:
        """Report ``MRData.total`` off by ``delta``, as when rows change between two pages."""
        self._add(Fault("total", times, path, total_delta=delta))

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or fault.path in path:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    # -- records

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [r.path for r in self.requests]

    # -- handling

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one GET (called on the server's handler thread)."""
        split = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        with self._lock:
            self._requests.append(
                RecordedRequest(split.path, query, handler.client_address[1], self.clock())
            )
        fault = self._take_fault(split.path)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            detail = {"detail": f"Injected HTTP {fault.status}."}
            _send(handler, fault.status, json.dumps(detail).encode(), headers)
            return
        host = handler.headers.get("Host", "localhost")
        status, body = self.api.respond(split.path, query, host)
        if fault is not None and fault.kind == "total" and "MRData" in body:
            body["MRData"]["total"] = str(int(body["MRData"]["total"]) + fault.total_delta)
        payload = json.dumps(body, ensure_ascii=False).encode()
        if fault is not None and fault.kind == "truncate":
            payload = payload[: len(payload) // 2]
        elif fault is not None and fault.kind == "no_mrdata":
            payload = b'{"detail": "Service under maintenance."}'
        if fault is not None and fault.kind == "trickle":
            _send(handler, status, payload, {}, trickle=fault.delay)
            return
        _send(handler, status, payload, {})


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: JolpicaTestServer) -> None:
        super().__init__(address, _Handler)
        self.app = app


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so tests can see connection reuse
    # Headers and body go out in two writes; without TCP_NODELAY each response stalls ~40 ms on
    # Nagle + delayed ACK, which would make a full season of laps take seconds.
    disable_nagle_algorithm = True
    server: _HttpServer

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self.server.app.handle(self)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep pytest output clean


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: bytes,
    headers: Json,
    *,
    trickle: float | None = None,
) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if trickle is None:
            handler.wfile.write(payload)
            return
        handler.wfile.flush()
        for i in range(len(payload)):
            time.sleep(trickle)
            handler.wfile.write(payload[i : i + 1])
            handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (its timeout fired while we were slow on purpose)


# --------------------------------------------------------------------------- test helpers


class FakeClock:
    """A manual clock: ``sleep`` and ``pace`` advance time instantly and record what was asked.

    ``sleeps`` holds the client's retry waits, ``paces`` the rate limiter's, so tests can tell a
    honoured Retry-After from ordinary pacing.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.paces: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """A retry/backoff wait."""
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)

    def pace(self, seconds: float) -> None:
        """A rate-limiter wait."""
        self.paces.append(seconds)
        self.now += max(0.0, seconds)


class ContractCsv:
    """The CSV tables converted to the Ergast contract (snake_case, typed), for comparisons."""

    def __init__(self, ergast_dir: Path) -> None:
        self.ergast_dir = ergast_dir
        self._tables: dict[str, pa.Table] = {}

    def table(self, name: str) -> pa.Table:
        """A whole table, typed by ``schema.conform``; ``\\N`` and "" are null."""
        if name not in self._tables:
            data = self._read(self.ergast_dir / f"{name}.csv")
            extra = self.ergast_dir / "extra" / "lap_times_2023_four_races.csv"
            if name == "lap_times" and extra.is_file():
                data = pa.concat_tables([data, self._read(extra)])
            spec = TABLES[name]
            keep = [c for c in data.column_names if c in spec.column_names]
            self._tables[name] = schema.conform(data.select(keep), name, source="dump")
        return self._tables[name]

    def season(self, name: str, season: int) -> pa.Table:
        """Rows of a race-scoped table for one season."""
        data = self.table(name)
        if name == "races":
            return data.filter(pc.equal(data["year"], season))
        races = self.season("races", season)
        return data.filter(pc.is_in(data["race_id"], value_set=races["race_id"]))

    @staticmethod
    def _read(path: Path) -> pa.Table:
        with path.open(encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        options = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header},
            null_values=["\\N", ""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        data = pacsv.read_csv(path, convert_options=options)
        return data.rename_columns([snake_case(c) for c in data.column_names])
