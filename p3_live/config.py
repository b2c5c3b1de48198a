"""Live settings: ``P3_LIVE_*`` variables (the shared ``P3_*`` settings stay in ``p3_common``)."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

from p3_common.settings import JOLPICA_BASE_URL, Settings


class LiveSettings(BaseSettings):
    """Where the live streams are, how long they get, and how processors share them."""

    model_config = SettingsConfigDict(env_prefix="P3_LIVE_", frozen=True, extra="ignore")

    redis_url: str | None = Field(
        default=None, description="Redis of the live streams; unset = P3_REDIS_URL."
    )
    key_prefix: str = Field(default="p3:live", description="Prefix of every live Redis key.")
    stream_maxlen: PositiveInt = Field(
        default=100_000,
        description="Approximate bound of each race's event stream (XADD MAXLEN ~); a race is ~2,000.",
    )
    states_maxlen: PositiveInt = Field(
        default=10_000,
        description="Approximate bound of each race's published-state stream (what SSE resumes from).",
    )
    group: str = Field(default="processors", description="Consumer group of the processors.")
    claim_idle_ms: PositiveInt = Field(
        default=30_000,
        description="A pending entry idle this long is claimed from a processor presumed dead.",
    )
    reconnect_seconds: PositiveFloat = Field(
        default=60.0, description="How long replay and processor keep retrying a lost Redis."
    )
    poll_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(JOLPICA_BASE_URL),
        description="Ergast-compatible base URL the live poller reads.",
    )
    poll_interval_seconds: PositiveFloat = Field(
        default=10.0, description="Pause between two polls for new laps."
    )
    model_uri: str | None = Field(
        default=None,
        description="MLflow URI of the in-race model; unset = the registered champion of p3-in-race.",
    )


class LiveNotConfigured(RuntimeError):
    """Live mode needs a Redis server and none is configured."""


def redis_url(settings: Settings, live: LiveSettings) -> str:
    """The Redis URL of the live streams: ``P3_LIVE_REDIS_URL``, else ``P3_REDIS_URL``."""
    url = live.redis_url or settings.redis_url
    if not url:
        raise LiveNotConfigured(
            "live mode needs Redis: set P3_LIVE_REDIS_URL or P3_REDIS_URL (e.g. redis://127.0.0.1:6379/0)"
        )
    return url
