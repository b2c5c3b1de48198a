"""Client-side rate limiting for the Jolpica API: a burst window, an hourly window, AIMD pacing."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

# Jolpica's unauthenticated limits (docs/rate_limits.md): 4 requests/s burst, 500 requests/hour.
DEFAULT_PER_SECOND = 4
DEFAULT_PER_HOUR = 500

Clock = Callable[[], float]
Sleep = Callable[[float], None]


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
