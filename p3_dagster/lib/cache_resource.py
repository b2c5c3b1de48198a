"""The query cache as a Dagster resource: Redis when a URL is configured, else the embedded store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from p3_query.cache import QueryCache, open_cache


class CacheResource(dg.ConfigurableResource):
    """Where the query cache lives (``P3_REDIS_URL`` or ``P3_CACHE_DIR``) and how much to warm."""

    redis_url: str | None = Field(
        description="Redis URL (P3_REDIS_URL); None = the embedded SQLite cache in cache_dir."
    )
    cache_dir: str = Field(description="Folder of the embedded cache (P3_CACHE_DIR).")
    prefix: str = Field(default="p3", description="Key prefix (p3:{build_id}:{query_hash}).")
    warm_budget: int = Field(default=200, description="Queries pre-computed for each new build.")

    @property
    def backend(self) -> str:
        """``redis`` or ``embedded``."""
        return "redis" if self.redis_url else "embedded"

    @contextmanager
    def open(self) -> Iterator[QueryCache]:
        """A cache client for one step, flushed and closed when the step ends."""
        cache = open_cache(redis_url=self.redis_url, cache_dir=self.cache_dir, prefix=self.prefix)
        try:
            yield cache
        finally:
            cache.close()
