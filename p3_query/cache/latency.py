"""Log-scale latency histograms: mergeable counts that live in the backend, percentiles from them."""

from __future__ import annotations

import math
from collections.abc import Mapping

# Bucket i holds latencies in [FLOOR * GROWTH**(i-1), FLOOR * GROWTH**i): ~12% wide from 1 us.
FLOOR_MS = 0.001
GROWTH = 1.12
MAX_BUCKET = 200  # ~ 7 minutes; anything slower lands in the last bucket


def bucket_of(latency_ms: float) -> int:
    """The histogram bucket a latency falls into."""
    if latency_ms <= FLOOR_MS:
        return 0
    return min(MAX_BUCKET, int(math.ceil(math.log(latency_ms / FLOOR_MS, GROWTH))))


def bucket_upper_ms(bucket: int) -> float:
    """The upper bound of a bucket, used as the value reported for a percentile in it."""
    return FLOOR_MS * GROWTH**bucket


def summarise(counts: Mapping[int, int], total_ms: float = 0.0) -> dict[str, float]:
    """Count, mean and p50/p95/p99 (upper bucket bounds, so within ~12%) of a histogram."""
    total = sum(counts.values())
    summary: dict[str, float] = {"count": float(total)}
    summary["mean_ms"] = round(total_ms / total, 4) if total else 0.0
    for name, q in (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        summary[name] = round(_percentile(counts, total, q), 4) if total else 0.0
    return summary


def _percentile(counts: Mapping[int, int], total: int, q: float) -> float:
    rank = q * total
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return bucket_upper_ms(bucket)
    return bucket_upper_ms(max(counts))
