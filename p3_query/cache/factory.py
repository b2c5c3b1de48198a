"""Open the configured cache: Redis when ``P3_REDIS_URL`` is set, else the embedded store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from p3_common.settings import Settings, get_settings

from .base import QueryCache


def open_cache(
    settings: Settings | None = None,
    *,
    redis_url: str | None = None,
    cache_dir: Path | str | None = None,
    **options: Any,
) -> QueryCache:
    """The cache for ``settings`` (default: the process settings); arguments override them.

    ``options`` go to the backend (``prefix``, ``ttl``, ``flush_every``, ...).
    """
    if redis_url is None and cache_dir is None:
        settings = settings or get_settings()
        redis_url = settings.redis_url
        cache_dir = settings.cache_dir
    if redis_url:
        from .redis_cache import RedisCache

        return RedisCache(redis_url, **options)
    from .embedded import EmbeddedCache

    assert cache_dir is not None
    return EmbeddedCache(cache_dir, **options)
