"""HTTP client for the Ergast-compatible Jolpica API: rate limits, retries, backoff, pagination."""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import httpx
import tenacity

from .errors import SourceError

SOURCE = "jolpica"
DEFAULT_BASE_URL = "https://api.jolpi.ca/ergast/f1"
MAX_PAGE_SIZE = 100  # Jolpica caps `limit` at 100 (ErgastAPIPagination.max_limit)

# Jolpica's unauthenticated limits (docs/rate_limits.md): 4 requests/s burst, 500 requests/hour.
DEFAULT_PER_SECOND = 4
DEFAULT_PER_HOUR = 500

# Overall time bounds, whatever the server does (stall, trickle, 5xx, 429): one request with its
# retries, and one table load (P3_JOLPICA_REQUEST_DEADLINE_SECONDS / _STEP_DEADLINE_SECONDS).
DEFAULT_REQUEST_DEADLINE = 60.0
DEFAULT_STEP_DEADLINE = 600.0

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]
Json = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """One API list: where its rows sit in ``MRData`` and how pages of it merge.

    ``payload_key`` names the row list inside each list item (``Results`` inside a Race); flat
    lists (drivers, seasons, ...) have none. ``table`` is the contract table the rows feed, for
    error messages.
    """

    name: str
    table: str
    table_key: str
    list_key: str
    payload_key: str | None = None


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource("races", "races", "RaceTable", "Races"),
        Resource("results", "results", "RaceTable", "Races", "Results"),
        Resource("sprint", "sprint_results", "RaceTable", "Races", "SprintResults"),
        Resource("qualifying", "qualifying", "RaceTable", "Races", "QualifyingResults"),
        Resource("laps", "lap_times", "RaceTable", "Races", "Laps"),
        Resource("pitstops", "pit_stops", "RaceTable", "Races", "PitStops"),
        Resource(
            "driverStandings",
            "driver_standings",
            "StandingsTable",
            "StandingsLists",
            "DriverStandings",
        ),
        Resource(
            "constructorStandings",
            "constructor_standings",
            "StandingsTable",
            "StandingsLists",
            "ConstructorStandings",
        ),
        Resource("drivers", "drivers", "DriverTable", "Drivers"),
        Resource("constructors", "constructors", "ConstructorTable", "Constructors"),
        Resource("circuits", "circuits", "CircuitTable", "Circuits"),
        Resource("seasons", "seasons", "SeasonTable", "Seasons"),
        Resource("status", "status", "StatusTable", "Status"),
    )
}

ROUND_RESOURCES = ("results", "sprint", "qualifying", "laps", "pitstops")
STANDINGS_RESOURCES = ("driverStandings", "constructorStandings")
REFERENCE_RESOURCES = ("drivers", "constructors", "circuits", "seasons", "status")


# --------------------------------------------------------------------------- rate limiting


class RateBudgetExhaustedError(Exception):
    """The next request slot is further away than the limiter may wait."""

    def __init__(self, wait: float, reason: str) -> None:
        self.wait = wait
        self.reason = reason
        super().__init__(f"{reason}; next request allowed in {wait:.0f} s")


class SlidingWindow:
    """At most ``limit`` events in any window of ``seconds``.

    A sliding window is the strictest reading of "N per period": it also satisfies a server that
    counts in fixed windows (Jolpica uses django-ratelimit), whichever way its windows are aligned.
    """

    def __init__(self, limit: int, seconds: float) -> None:
        if limit < 1 or seconds <= 0:
            raise ValueError(f"window needs limit >= 1 and seconds > 0, got {limit}/{seconds}")
        self.limit = limit
        self.seconds = seconds
        self._events: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        """Seconds until one more event fits (0 when it fits now)."""
        while self._events and self._events[0] <= now - self.seconds:
            self._events.popleft()
        if len(self._events) < self.limit:
            return 0.0
        return self._events[0] + self.seconds - now

    def record(self, now: float) -> None:
        """Count an event at ``now``."""
        self._events.append(now)


class RateLimiter:
    """Client-side throttle: a burst window, an hourly window and an adaptive (AIMD) pace.

    ``per_second`` caps requests in any 1 s window and ``per_hour`` in any hour. On top, requests
    are spaced ``1 / current_rate`` apart; a 429 halves ``current_rate`` (down to ``min_rate``)
    and every success adds ``recovery_step`` back (up to ``per_second``), so a throttled client
    backs off quickly and recovers gradually. ``clock``/``sleep`` are injectable so tests run in
    fake time. A wait longer than ``max_wait`` raises ``RateBudgetExhaustedError`` instead of
    hanging a run.
    """

    def __init__(
        self,
        *,
        per_second: int = DEFAULT_PER_SECOND,
        per_hour: int = DEFAULT_PER_HOUR,
        min_rate: float = 0.1,
        recovery_step: float = 0.1,
        max_wait: float = 300.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if not 0 < min_rate <= per_second:
            raise ValueError(f"min_rate must be in (0, {per_second}], got {min_rate}")
        self.per_second = per_second
        self.per_hour = per_hour
        self.min_rate = min_rate
        self.recovery_step = recovery_step
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep
        self._burst = SlidingWindow(per_second, 1.0)
        self._hourly = SlidingWindow(per_hour, 3600.0)
        self._rate = float(per_second)
        self._last: float | None = None

    @property
    def current_rate(self) -> float:
        """Requests per second the limiter currently paces to (lowered after a 429)."""
        return self._rate

    def acquire(self, max_wait: float | None = None) -> float:
        """Block until one request may be sent, count it, and return the seconds waited.

        ``max_wait`` lowers the limiter's own ``max_wait`` for this call (a deadline's remainder).
        """
        waited = 0.0
        limit = self.max_wait if max_wait is None else min(self.max_wait, max_wait)
        while True:
            now = self.clock()
            wait, reason = self._wait_time(now)
            if wait <= 0:
                break
            if wait > limit:
                raise RateBudgetExhaustedError(wait, reason)
            self.sleep(wait)
            waited += wait
        self._burst.record(now)
        self._hourly.record(now)
        self._last = now
        return waited

    def _wait_time(self, now: float) -> tuple[float, str]:
        pace = 0.0 if self._last is None else self._last + 1.0 / self._rate - now
        candidates = [
            (self._hourly.wait_time(now), f"hourly request budget ({self.per_hour}/h) used up"),
            (self._burst.wait_time(now), f"burst limit ({self.per_second}/s) reached"),
            (pace, f"pacing to {self._rate:.2f} requests/s"),
        ]
        return max(candidates, key=lambda c: c[0])

    def on_throttled(self) -> None:
        """Multiplicative decrease after a 429."""
        self._rate = max(self.min_rate, self._rate / 2)

    def on_success(self) -> None:
        """Additive increase after a successful response."""
        self._rate = min(float(self.per_second), self._rate + self.recovery_step)


# --------------------------------------------------------------------------- counters


@dataclass
class ClientStats:
    """What the client did, for asset metadata and logs."""

    requests: int = 0  # HTTP requests sent, every attempt counted
    pages: int = 0  # pages parsed successfully
    retries: int = 0  # attempts repeated after a retryable failure
    throttled: int = 0  # HTTP 429 responses
    server_errors: int = 0  # HTTP 5xx responses
    transport_errors: int = 0  # timeouts and connection failures
    waited_seconds: float = 0.0  # time slept for rate limits and backoff

    def as_metadata(self) -> dict[str, int | float]:
        """A flat dict for ``MaterializeResult(metadata=...)``."""
        return {f"jolpica_{k}": v for k, v in asdict(self).items()}


# --------------------------------------------------------------------------- retryable failures


class _RetryableError(Exception):
    """A failure worth another attempt: 429, 5xx, timeout, connection error."""

    def __init__(self, description: str, *, retry_after: float | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after = retry_after


class _DeadlineReached(Exception):
    """The request or step deadline passed (or would pass) before an answer was complete."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class _Deadline:
    """When one request must be done by (monotonic seconds) and which setting bounds it."""

    at: float
    seconds: float
    setting: str  # the environment variable that sets ``seconds``
    what: str  # "request" or "step (<label>)"

    def describe(self) -> str:
        return f"the {self.seconds:g} s {self.what} deadline ({self.setting})"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date); None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


# --------------------------------------------------------------------------- page merging


def _row_count(item: Json, resource: Resource) -> int:
    if resource.payload_key is None:
        return 1
    rows = item.get(resource.payload_key) or []
    if resource.name == "laps":
        return sum(len(lap.get("Timings") or []) for lap in rows)
    return len(rows)


def count_rows(items: list[Json], resource: Resource) -> int:
    """Innermost rows in a list of items: what ``MRData.total`` counts (results, timings, ...)."""
    return sum(_row_count(item, resource) for item in items)


def merge_page(merged: list[Json], items: list[Json], resource: Resource) -> None:
    """Append one page's items to ``merged``, joining items split across pages.

    Pages slice innermost rows, so a Race (by season and round) or a standings list can continue on
    the next page, and for laps even one lap (by number) can. Inputs are not mutated.
    """
    if resource.payload_key is None:
        merged.extend(items)
        return
    key = resource.payload_key
    by_race = {(m.get("season"), m.get("round")): m for m in merged}
    for item in items:
        race_key = (item.get("season"), item.get("round"))
        target = by_race.get(race_key)
        if target is None:
            target = {**item, key: []}
            merged.append(target)
            by_race[race_key] = target
        rows = item.get(key) or []
        if resource.name == "laps":
            _merge_laps(target[key], rows)
        else:
            target[key].extend(rows)


def _merge_laps(laps: list[Json], new_laps: list[Json]) -> None:
    by_number = {lap.get("number"): lap for lap in laps}
    for lap in new_laps:
        existing = by_number.get(lap.get("number"))
        if existing is None:
            existing = {**lap, "Timings": []}
            laps.append(existing)
            by_number[lap.get("number")] = existing
        existing["Timings"].extend(lap.get("Timings") or [])


# --------------------------------------------------------------------------- the client


@dataclass(frozen=True)
class _Page:
    total: int
    limit: int
    offset: int
    items: list[Json]


class JolpicaClient:
    """Synchronous client of the Jolpica (Ergast-compatible) F1 API.

    One ``httpx.Client`` (one keep-alive connection pool) serves every request. Each request passes
    the ``RateLimiter``; 429 (honouring ``Retry-After``), 5xx, timeouts and connection errors are
    retried with bounded exponential backoff (``backoff_initial * 2**n``, at most ``backoff_max``)
    up to ``max_attempts`` attempts. A ``Retry-After`` longer than ``max_wait`` fails at once with a
    ``SourceError`` instead of hanging a run. Lists are paged with ``limit``/``offset`` and pages
    are merged. Not thread-safe: use one client per thread.

    Two overall bounds hold whatever the server does: a page request, with its retries, backoff
    and a body trickling in, ends within ``request_deadline`` seconds (plus at most one read
    wait), and every request after ``start_step(label)`` ends within ``step_deadline`` seconds of
    that call. Past either, a one-line ``SourceError`` names the URL and the deadline. Each retry
    logs a warning (logger ``p3_ingest.sources.jolpica_client``) with URL, reason and time left.

    Parameters: ``base_url`` API root without trailing ``/``; ``timeout`` seconds (or an
    ``httpx.Timeout``) for one wait (connect, one read); ``page_size`` ``limit`` per page (1..100); ``max_attempts``,
    ``backoff_initial``, ``backoff_max`` the retry policy; ``max_wait`` the longest single wait
    (Retry-After, hourly budget) before failing; ``rate_limiter`` defaults to Jolpica's limits;
    ``clock``/``sleep`` drive the default limiter and the backoff (fake them in tests);
    ``headers`` are added to every request (e.g. an auth token); ``transport`` is httpx's.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float | httpx.Timeout = 10.0,
        page_size: int = MAX_PAGE_SIZE,
        max_attempts: int = 5,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        max_wait: float = 300.0,
        request_deadline: float = DEFAULT_REQUEST_DEADLINE,
        step_deadline: float = DEFAULT_STEP_DEADLINE,
        rate_limiter: RateLimiter | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if request_deadline <= 0 or step_deadline <= 0:
            raise ValueError(
                f"deadlines must be > 0, got request {request_deadline}, step {step_deadline}"
            )
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_wait = max_wait
        self.limiter = rate_limiter or RateLimiter(max_wait=max_wait, clock=clock, sleep=sleep)
        self.request_deadline = request_deadline
        self.step_deadline = step_deadline
        self._sleep = sleep
        self._clock = clock
        self.stats = ClientStats()
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._step_label = ""
        self._step_started: float | None = None  # no step deadline until start_step
        self._http = httpx.Client(
            timeout=self._timeout,
            headers={
                "Accept": "application/json",
                "User-Agent": "p3-f1-analytics (+jolpica client)",
                **(headers or {}),
            },
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
            transport=transport,
        )

    # -- lifecycle

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> JolpicaClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def current_rate(self) -> float:
        """Requests per second currently allowed (drops after a 429, recovers on success)."""
        return self.limiter.current_rate

    def start_step(self, label: str) -> None:
        """Start the step deadline for one table load, e.g. ``lap_times 2024``.

        Every request until the next ``start_step`` must finish within ``step_deadline`` seconds
        of now. Before the first ``start_step`` only the request deadline applies.
        """
        self._step_label = label
        self._step_started = self._clock()

    def url(self, path: str) -> str:
        """Absolute URL of an API path such as ``2023/5/results``."""
        return f"{self.base_url}/{path.strip('/')}.json"

    # -- endpoints

    def seasons(self) -> list[Json]:
        """Every season: ``[{season, url}]``."""
        return self.fetch_all("seasons", "seasons")

    def schedule(self, season: int) -> list[Json]:
        """The season's races with their session dates (``{base}/{season}.json``)."""
        return self.fetch_all(str(season), "races")

    def reference(self, resource: str) -> list[Json]:
        """A whole reference list: drivers, constructors, circuits, seasons or status."""
        if resource not in REFERENCE_RESOURCES:
            raise ValueError(f"not a reference resource: {resource!r}")
        return self.fetch_all(resource, resource)

    def race(self, season: int, round_: int, resource: str) -> Json | None:
        """One round's Race with its merged payload list (``Results``, ``Laps``...); None if empty.

        An out-of-range round, or a round without data yet, is a normal response with total 0.
        """
        if resource not in ROUND_RESOURCES:
            raise ValueError(f"not a per-round resource: {resource!r}")
        return self._single(f"{season}/{round_}/{resource}", resource)

    def standings(self, season: int, round_: int, resource: str) -> Json | None:
        """The standings list after one round (``driverStandings``/``constructorStandings``)."""
        if resource not in STANDINGS_RESOURCES:
            raise ValueError(f"not a standings resource: {resource!r}")
        return self._single(f"{season}/{round_}/{resource}", resource)

    def _single(self, path: str, resource: str) -> Json | None:
        items = self.fetch_all(path, resource)
        if len(items) > 1:
            raise SourceError(
                SOURCE,
                RESOURCES[resource].table,
                f"expected one race, got {len(items)}",
                where=self.url(path),
            )
        return items[0] if items else None

    def fetch_all(self, path: str, resource: str) -> list[Json]:
        """Every page of ``path`` merged into one list of ``resource`` items.

        Pages until ``offset + limit >= total`` and checks that the merged rows add up to ``total``,
        so data lost between pages (or a changing total) fails loudly rather than silently.
        """
        spec = RESOURCES[resource]
        url = self.url(path)
        merged: list[Json] = []
        offset = 0
        totals: set[int] = set()
        while True:
            page = self._get_page(url, spec, offset)
            if page.offset != offset:
                # A server that ignores `offset` would otherwise have us loop on the same page.
                raise SourceError(
                    SOURCE,
                    spec.table,
                    f"asked for offset {offset}, the API answered offset {page.offset}",
                    where=url,
                )
            totals.add(page.total)
            merge_page(merged, page.items, spec)
            if page.offset + page.limit >= page.total:
                break
            offset = page.offset + page.limit
        got = count_rows(merged, spec)
        if len(totals) > 1 or got != page.total:
            raise SourceError(
                SOURCE,
                spec.table,
                f"pagination mismatch: totals {sorted(totals)} across pages, {got} rows merged; "
                "the data changed while paging, retry later",
                where=url,
            )
        return merged

    # -- one page, with retries

    def _deadline(self) -> _Deadline:
        """The nearer of this request's deadline and the current step's."""
        request = _Deadline(
            self._clock() + self.request_deadline,
            self.request_deadline,
            "P3_JOLPICA_REQUEST_DEADLINE_SECONDS",
            "request",
        )
        if self._step_started is None:
            return request
        step = _Deadline(
            self._step_started + self.step_deadline,
            self.step_deadline,
            "P3_JOLPICA_STEP_DEADLINE_SECONDS",
            f"step ({self._step_label})",
        )
        return step if step.at < request.at else request

    def _get_page(self, url: str, spec: Resource, offset: int) -> _Page:
        params = {"limit": str(self.page_size), "offset": str(offset)}
        where = f"{url}?limit={self.page_size}&offset={offset}"
        deadline = self._deadline()
        started = self._clock()

        def past_deadline(state: tenacity.RetryCallState) -> bool:
            # Stop rather than sleep into (or past) the deadline.
            return self._clock() + (state.upcoming_sleep or 0.0) >= deadline.at

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts) | past_deadline,
            wait=self._wait_before_retry,
            retry=tenacity.retry_if_exception_type(_RetryableError),
            sleep=self._sleep_counted,
            before_sleep=lambda state: self._log_retry(state, where, deadline),
            reraise=True,
        )
        try:
            body = retrying(self._attempt, url, params, spec, where, deadline)
        except _RetryableError as exc:
            attempts = retrying.statistics.get("attempt_number", self.max_attempts)
            if attempts < self.max_attempts:  # stopped by the deadline, not the attempt budget
                raise self._deadline_error(spec, where, deadline, started, exc.description) from exc
            raise SourceError(
                SOURCE,
                spec.table,
                f"gave up after {self.max_attempts} attempts; last failure: {exc.description}",
                where=where,
            ) from exc
        except _DeadlineReached as exc:
            raise self._deadline_error(spec, where, deadline, started, exc.description) from exc
        page = _parse_page(body, spec, where)
        self.stats.pages += 1
        return page

    def _deadline_error(
        self, spec: Resource, where: str, deadline: _Deadline, started: float, last: str
    ) -> SourceError:
        elapsed = self._clock() - started
        return SourceError(
            SOURCE,
            spec.table,
            f"no complete answer within {deadline.describe()}; gave up after {elapsed:.1f} s, "
            f"last failure: {last}",
            where=where,
        )

    def _attempt(
        self, url: str, params: dict[str, str], spec: Resource, where: str, deadline: _Deadline
    ) -> bytes:
        remaining = deadline.at - self._clock()
        if remaining <= 0:
            raise _DeadlineReached("no time left for another attempt")
        try:
            self.stats.waited_seconds += self.limiter.acquire(max_wait=remaining)
        except RateBudgetExhaustedError as exc:
            if exc.wait <= self.limiter.max_wait:  # only the deadline stood in the way
                raise _DeadlineReached(f"client rate limit: {exc}") from exc
            raise SourceError(
                SOURCE,
                spec.table,
                f"client rate limit: {exc}, more than max_wait {self.limiter.max_wait:.0f} s; "
                "rerun later",
                where=where,
            ) from exc
        self.stats.requests += 1
        try:
            response, body = self._send(url, params, deadline)
        except httpx.TimeoutException as exc:
            self.stats.transport_errors += 1
            if self._clock() >= deadline.at:
                raise _DeadlineReached(f"timed out ({type(exc).__name__})") from exc
            raise _RetryableError(f"timed out ({type(exc).__name__}: {exc})") from exc
        except httpx.TransportError as exc:
            self.stats.transport_errors += 1
            raise _RetryableError(f"connection failed ({type(exc).__name__}: {exc})") from exc
        return self._check_status(response, body, spec, where)

    def _send(
        self, url: str, params: dict[str, str], deadline: _Deadline
    ) -> tuple[httpx.Response, bytes]:
        """GET ``url`` and read its body in chunks, checking ``deadline`` after each one.

        No single wait (connect, read of a chunk) is longer than what is left of the deadline,
        so a server that stalls fails at the deadline, and one that trickles a byte every few
        seconds (never tripping the read timeout) fails at the next chunk after it.
        """
        remaining = max(0.001, deadline.at - self._clock())
        timeout = httpx.Timeout(
            connect=_at_most(self._timeout.connect, remaining),
            read=_at_most(self._timeout.read, remaining),
            write=_at_most(self._timeout.write, remaining),
            pool=_at_most(self._timeout.pool, remaining),
        )
        chunks: list[bytes] = []
        received = 0
        with self._http.stream("GET", url, params=params, timeout=timeout) as response:
            for chunk in response.iter_bytes():  # each chunk as it arrives, not buffered
                chunks.append(chunk)
                received += len(chunk)
                if self._clock() >= deadline.at:
                    raise _DeadlineReached(
                        f"the body was still arriving ({received} bytes received)"
                    )
        return response, b"".join(chunks)

    def _check_status(
        self, response: httpx.Response, body: bytes, spec: Resource, where: str
    ) -> bytes:
        status = response.status_code
        if status == 429:
            self.stats.throttled += 1
            self.limiter.on_throttled()
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None and retry_after > self.max_wait:
                raise SourceError(
                    SOURCE,
                    spec.table,
                    f"the API throttled us (HTTP 429) and asked to wait {retry_after:.0f} s "
                    f"(Retry-After), more than max_wait {self.max_wait:.0f} s; rerun later",
                    where=where,
                )
            raise _RetryableError("throttled (HTTP 429)", retry_after=retry_after)
        if status >= 500:
            self.stats.server_errors += 1
            raise _RetryableError(f"HTTP {status} {response.reason_phrase}")
        if status != 200:
            text = body[:200].decode("utf-8", "replace")
            raise SourceError(
                SOURCE,
                spec.table,
                f"HTTP {status} {response.reason_phrase}: {text!r}",
                where=where,
            )
        self.limiter.on_success()
        return body

    def _wait_before_retry(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableError) and exc.retry_after is not None:
            return exc.retry_after
        backoff = self.backoff_initial * 2 ** (state.attempt_number - 1)
        return min(self.backoff_max, backoff)

    def _sleep_counted(self, seconds: float) -> None:
        self.stats.waited_seconds += seconds
        self._sleep(seconds)

    def _log_retry(self, state: tenacity.RetryCallState, where: str, deadline: _Deadline) -> None:
        """Count the retry and say what is retried, why, and how much time is left."""
        self.stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        why = exc.description if isinstance(exc, _RetryableError) else repr(exc)
        left = max(0.0, deadline.at - self._clock())
        logger.warning(
            "jolpica: retrying %s in %.1f s (attempt %d of %d) after: %s; %.0f s left of %s",
            where,
            state.upcoming_sleep,
            state.attempt_number + 1,
            self.max_attempts,
            why,
            left,
            deadline.describe(),
        )


def _at_most(value: float | None, limit: float) -> float:
    return limit if value is None else min(value, limit)


def _parse_page(body: bytes, spec: Resource, where: str) -> _Page:
    """Decode one response page and check it has ``MRData`` with the expected table and list."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(
            SOURCE,
            spec.table,
            f"invalid or truncated JSON ({len(body)} bytes): {exc}",
            where=where,
        ) from exc
    mrdata = data.get("MRData") if isinstance(data, dict) else None
    table = mrdata.get(spec.table_key) if isinstance(mrdata, dict) else None
    items = table.get(spec.list_key) if isinstance(table, dict) else None
    if not isinstance(items, list):
        raise SourceError(
            SOURCE,
            spec.table,
            f"response has no MRData.{spec.table_key}.{spec.list_key} list",
            where=where,
        )
    assert isinstance(mrdata, dict)
    try:
        total, limit, offset = (int(mrdata[k]) for k in ("total", "limit", "offset"))
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceError(
            SOURCE, spec.table, f"MRData has no valid total/limit/offset: {exc}", where=where
        ) from exc
    if limit < 1 or total < 0 or offset < 0:
        raise SourceError(
            SOURCE,
            spec.table,
            f"MRData paging out of range: limit={limit} offset={offset} total={total}",
            where=where,
        )
    if spec.payload_key is not None:
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get(spec.payload_key), list):
                raise SourceError(
                    SOURCE,
                    spec.table,
                    f"an item of {spec.list_key} has no {spec.payload_key} list",
                    where=where,
                )
    return _Page(total=total, limit=limit, offset=offset, items=items)
