"""The P3 query cache: one interface, a Redis and an embedded (SQLite) backend, predictive warming."""

from .base import CacheDegradedWarning, CacheUnavailable, QueryCache
from .core import (
    CacheResult,
    CacheStats,
    Computed,
    QueryEvent,
    QueryRef,
    QueryStat,
    WarmItem,
    WarmReport,
    template_of,
)
from .factory import open_cache
from .keys import current_key, entry_key
from .ttl import TtlPolicy

__all__ = [
    "CacheDegradedWarning",
    "CacheResult",
    "CacheStats",
    "CacheUnavailable",
    "Computed",
    "QueryCache",
    "QueryEvent",
    "QueryRef",
    "QueryStat",
    "TtlPolicy",
    "WarmItem",
    "WarmReport",
    "current_key",
    "entry_key",
    "open_cache",
    "template_of",
]
