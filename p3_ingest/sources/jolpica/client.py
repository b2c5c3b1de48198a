"""HTTP client for the Ergast-compatible Jolpica API: requests, retries, backoff, deadlines, paging.

The rate limiter is ``rate_limit``; the page format (decode, merge, count) is ``paging``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType

import httpx
import tenacity
from tenacity.stop import stop_base

from p3_common.settings import JOLPICA_BASE_URL

from ..errors import SourceError
from .paging import MAX_PAGE_SIZE, Page, count_rows, merge_page, parse_page
from .rate_limit import Clock, RateBudgetExhaustedError, RateLimiter, Sleep
from .resources import (
    REFERENCE_RESOURCES,
    RESOURCES,
    ROUND_RESOURCES,
    SOURCE,
    STANDINGS_RESOURCES,
    Json,
    Resource,
    round_path,
)

# Overall time bounds, whatever the server does (stall, trickle, 5xx, 429): one request with its
# retries, and one table load (P3_JOLPICA_REQUEST_DEADLINE_SECONDS / _STEP_DEADLINE_SECONDS).
DEFAULT_REQUEST_DEADLINE = 60.0
DEFAULT_STEP_DEADLINE = 600.0

logger = logging.getLogger(__name__)


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


# --------------------------------------------------------------------------- the client


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
    logs a warning (logger ``p3_ingest.sources.jolpica.client``) with URL, reason and time left.

    Parameters: ``base_url`` API root without trailing ``/``; ``timeout`` seconds (or an
    ``httpx.Timeout``) for one wait (connect, one read); ``page_size`` ``limit`` per page (1..100); ``max_attempts``,
    ``backoff_initial``, ``backoff_max`` the retry policy; ``max_wait`` the longest single wait
    (Retry-After, hourly budget) before failing; ``rate_limiter`` defaults to Jolpica's limits;
    ``clock``/``sleep`` drive the default limiter and the backoff (fake them in tests);
    ``headers`` are added to every request (e.g. an auth token); ``transport`` is httpx's.
    """

    def __init__(
        self,
        base_url: str = JOLPICA_BASE_URL,
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
        return self._single(round_path(season, round_, resource), resource)

    def standings(self, season: int, round_: int, resource: str) -> Json | None:
        """The standings list after one round (``driverStandings``/``constructorStandings``)."""
        if resource not in STANDINGS_RESOURCES:
            raise ValueError(f"not a standings resource: {resource!r}")
        return self._single(round_path(season, round_, resource), resource)

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

    def _get_page(self, url: str, spec: Resource, offset: int) -> Page:
        params = {"limit": str(self.page_size), "offset": str(offset)}
        where = f"{url}?limit={self.page_size}&offset={offset}"
        deadline = self._deadline()
        started = self._clock()

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts) | _StopAt(deadline, self._clock),
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
        page = parse_page(body, spec, where)
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


class _StopAt(stop_base):
    """Stop retrying rather than sleep into (or past) the deadline."""

    def __init__(self, deadline: _Deadline, clock: Clock) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.clock() + (retry_state.upcoming_sleep or 0.0) >= self.deadline.at


def _at_most(value: float | None, limit: float) -> float:
    return limit if value is None else min(value, limit)
