"""Run-duration anomalies: a duration against its own history, by median and MAD (robust to the
occasional slow run already in that history), and the alert that says which run and step."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

# 0.6745 scales the MAD to a standard deviation for normal data (Iglewicz and Hoaglin): a robust
# z-score above 3.5 is their usual outlier cut-off.
MAD_SCALE = 0.6745
DEFAULT_THRESHOLD = 3.5


@dataclass(frozen=True)
class DurationAnomaly:
    """One duration well above its history: what, how long, and the history it was judged on."""

    subject: str  # "run" or a step key
    seconds: float
    median: float
    mad: float
    score: float
    history: int

    def describe(self) -> str:
        ratio = self.seconds / self.median if self.median else float("inf")
        return (
            f"{self.subject} took {self.seconds:.1f}s, {ratio:.1f}x its median {self.median:.1f}s "
            f"over the last {self.history} successful runs (robust z {self.score:.1f})"
        )


def slow_outlier(
    subject: str,
    seconds: float,
    history: Sequence[float],
    *,
    min_history: int = 5,
    threshold: float = DEFAULT_THRESHOLD,
    min_excess_seconds: float = 5.0,
) -> DurationAnomaly | None:
    """The anomaly when ``seconds`` is far slower than ``history``, else None.

    Far slower means a robust z-score (``0.6745 * (x - median) / MAD``) above ``threshold`` and at
    least ``min_excess_seconds`` over the median, so sub-second jitter of fast steps never alerts.
    A history shorter than ``min_history`` is not judged. When every past duration was identical
    (MAD 0), the MAD is taken as 1% of the median, so only a real slowdown scores high.
    """
    if len(history) < min_history:
        return None
    median = statistics.median(history)
    mad = statistics.median(abs(value - median) for value in history)
    spread = max(mad, 0.01 * median, 1e-3)
    score = MAD_SCALE * (seconds - median) / spread
    if score <= threshold or seconds - median < min_excess_seconds:
        return None
    return DurationAnomaly(subject, seconds, median, mad, score, len(history))


@dataclass(frozen=True)
class RunSlowAlert:
    """A run that succeeded but took anomalously long, in the run-failure alert's shape (same
    log line and webhook path: ``p3_dagster.lib.alerts.send_alert``)."""

    run_id: str
    job_name: str
    anomalies: list[DurationAnomaly]
    run_url: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "event": "p3.run_slow",
            "run_id": self.run_id,
            "job_name": self.job_name,
            "slow_steps": [a.subject for a in self.anomalies if a.subject != "run"],
            "anomalies": [asdict(a) for a in self.anomalies],
            "run_url": self.run_url,
        }

    def summary(self) -> str:
        details = "; ".join(anomaly.describe() for anomaly in self.anomalies)
        return f"P3 run {self.run_id[:8]} of {self.job_name} was anomalously slow: {details}"
