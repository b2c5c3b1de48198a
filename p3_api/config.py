"""API settings: ``P3_API_*`` variables (the shared ``P3_*`` settings stay in ``p3_common``)."""

from __future__ import annotations

from typing import Annotated

from limits import parse as parse_rate
from pydantic import AfterValidator, BeforeValidator, Field, PositiveInt, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _csv(value: object) -> object:
    # "a, b" -> ("a", "b"): origins are set as one comma-separated variable.
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _rate(value: str) -> str:
    # "60/minute", "10 per second", "1000/hour": what the limits library parses; fail at startup.
    parse_rate(value)
    return value


Rate = Annotated[str, AfterValidator(_rate)]


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
    credential_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="How long a process reuses a key or client it read from the store; a "
        "revocation takes effect everywhere within it (0 = read the store on every request).",
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="Proxies (comma-separated IPs or CIDRs, `*` for any) whose X-Forwarded-For and "
        "X-Forwarded-Proto are trusted, so anonymous limits count each client behind them by its "
        "own IP; empty = none (the peer address is the client).",
    )
    access_log: bool = Field(
        default=False, description="Log every request (uvicorn's access log); /metrics counts them."
    )
    cache_max_age_seconds: int = Field(
        default=15,
        ge=0,
        description="Cache-Control max-age of GET answers; clients revalidate with the ETag after.",
    )
    auth_enabled: bool = Field(
        default=True,
        description="Require credentials and roles (see the route table); false lets every caller "
        "act as admin, for local development only.",
    )
    jwt_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="HS256 key of the access tokens /oauth/token issues; unset = a random key "
        "made once in $P3_HOME/api/jwt_secret (mode 0600) and shared by every worker.",
    )
    jwt_issuer: str = Field(default="p3", description="`iss` of the tokens the API issues.")
    jwt_audience: str = Field(default="p3-api", description="`aud` of the tokens the API issues.")
    token_ttl_seconds: int = Field(
        default=900, ge=60, le=86400, description="Lifetime of an issued access token (seconds)."
    )
    oidc_issuer: str | None = Field(
        default=None, description="Issuer (`iss`) of an external identity provider's tokens."
    )
    oidc_audience: str | None = Field(
        default=None, description="Audience (`aud`) the external provider's tokens must carry."
    )
    oidc_jwks_url: str | None = Field(
        default=None, description="JWKS URL of the external provider's signing keys."
    )
    rate_limits_enabled: bool = Field(
        default=True, description="Limit requests per credential (per client IP if anonymous)."
    )
    rate_anonymous: Rate = Field(
        default="60/minute", description="Requests an anonymous client IP may make."
    )
    rate_viewer: Rate = Field(default="300/minute", description="Requests a viewer may make.")
    rate_analyst: Rate = Field(default="600/minute", description="Requests an analyst may make.")
    rate_admin: Rate = Field(default="1200/minute", description="Requests an admin may make.")
