"""API settings: ``P3_API_*`` variables (the shared ``P3_*`` settings stay in ``p3_common``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, PositiveInt
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _csv(value: object) -> object:
    # "a, b" -> ("a", "b"): origins are set as one comma-separated variable.
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class ApiSettings(BaseSettings):
    """How the API serves: where, with how many worker processes, and its limits."""

    model_config = SettingsConfigDict(env_prefix="P3_API_", frozen=True, extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface `make api` binds.")
    port: PositiveInt = Field(default=8000, description="Port `make api` binds.")
    workers: PositiveInt = Field(default=2, description="Worker processes of `make api`.")
    cors_origins: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_csv)] = Field(
        default=(), description="Browser origins allowed to call the API (comma-separated)."
    )
    max_body_bytes: PositiveInt = Field(
        default=64 * 1024, description="Largest request body accepted (413 above it)."
    )
    snapshot_pool_size: PositiveInt = Field(
        default=4, description="Read-only snapshot connections per worker process."
    )
    l1_cache_bytes: PositiveInt = Field(
        default=64 * 1024 * 1024, description="In-process response cache size per worker (bytes)."
    )
    cache_max_age_seconds: int = Field(
        default=15,
        ge=0,
        description="Cache-Control max-age of GET answers; clients revalidate with the ETag after.",
    )
