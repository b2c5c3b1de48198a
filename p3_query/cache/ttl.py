"""Adaptive time-to-live: popular and expensive answers stay longer.

    ttl = clamp(base * (1 + log2(1 + hits)) * (1 + log2(1 + cost_ms / ref_cost_ms)), min, max)

``hits`` is how often the entry (or, when warming, the query in earlier builds) was read and
``cost_ms`` is what computing it took. With the defaults a cheap one-off answer (0 hits, 1 ms) lives
about 1.1 h, a query read 15 times that took 40 ms lives 5 * 3.3 = 16 h, and nothing outlives 7 days.
The data behind an entry never changes within a build, so the TTL only bounds memory; a new build
retires the old one explicitly (``retire_grace_s``), not by waiting for these TTLs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TtlPolicy:
    """Parameters of the adaptive TTL formula (seconds and milliseconds)."""

    base_s: float = 3600.0
    min_s: float = 300.0
    max_s: float = 7 * 24 * 3600.0
    ref_cost_ms: float = 10.0
    retire_grace_s: float = 600.0

    def ttl_s(self, hits: int, cost_ms: float) -> float:
        """Seconds an entry read ``hits`` times and costing ``cost_ms`` to compute should live."""
        popularity = 1.0 + math.log2(1.0 + max(hits, 0))
        expense = 1.0 + math.log2(1.0 + max(cost_ms, 0.0) / self.ref_cost_ms)
        return min(self.max_s, max(self.min_s, self.base_s * popularity * expense))
