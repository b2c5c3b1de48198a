"""``p3 doctor``: check every configured service and say what is wrong and how to fix it."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from p3_common.settings import Settings

TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Check:
    """One service's state: ``ok`` False means ``problem`` says what is wrong and ``fix`` how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def check_postgres(url: str | None, variable: str = "P3_DATABASE_URL") -> Check:
    """PostgreSQL at ``url`` (the value of ``variable``) accepts a connection."""
    name = f"postgres ({variable})"
    if not url:
        return Check(
            name,
            False,
            f"{variable} is not set",
            f"export {variable}=postgresql://USER@HOST:5432/DB (the production stack's PostgreSQL)",
        )
    import psycopg

    try:
        with psycopg.connect(_libpq_url(url), connect_timeout=int(TIMEOUT_S)) as conn:
            version = conn.execute("show server_version").fetchone()
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return Check(
            name,
            False,
            f"cannot connect to {redact(url)}: {reason}",
            f"start PostgreSQL or correct {variable} (host, port, user, database must exist)",
        )
    return Check(name, True, f"{redact(url)} (PostgreSQL {version[0] if version else '?'})")


def _libpq_url(url: str) -> str:
    # SQLAlchemy-style driver suffixes (postgresql+psycopg://) are not libpq URLs.
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}"


def check_redis(url: str | None) -> Check:
    """Redis at ``P3_REDIS_URL`` answers PING; unset means the embedded cache (fine)."""
    if not url:
        return Check("redis (P3_REDIS_URL)", True, "not configured: the embedded file cache")
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S).ping()
    except redis.RedisError as exc:
        return Check(
            "redis (P3_REDIS_URL)",
            False,
            f"{redact(url)} does not answer: {exc}",
            "start redis-server, correct P3_REDIS_URL, or unset it for the embedded cache",
        )
    return Check("redis (P3_REDIS_URL)", True, redact(url))


def check_warehouse(settings: Settings) -> Check:
    """The live warehouse file exists (it is created by the first run)."""
    path = settings.warehouse_path
    if path.exists():
        return Check("warehouse (P3_DUCKDB_PATH)", True, f"{path} ({_size(path)})")
    return Check(
        "warehouse (P3_DUCKDB_PATH)",
        False,
        f"{path} does not exist yet",
        "run `make run` (or launch materialize_everything_job) to build it",
    )


def check_snapshot(settings: Settings) -> Check:
    """The published snapshot opens read-only and names its build."""
    from p3_common.snapshot import SnapshotError, read_snapshot

    try:
        snapshot = read_snapshot(settings.serving_duckdb_path)
    except SnapshotError as exc:
        return Check(
            "snapshot (P3_SERVING_DUCKDB_PATH)",
            False,
            " ".join(str(exc).split()),
            "run `make run` to publish one; the API serves nothing until it exists",
        )
    return Check(
        "snapshot (P3_SERVING_DUCKDB_PATH)",
        True,
        f"build {snapshot.build_id} published {snapshot.published_at:%Y-%m-%d %H:%M} UTC, "
        f"{len(snapshot.tables)} tables",
    )


def check_mlflow(settings: Settings) -> Check:
    """The MLflow tracking store answers (a server's /health, or a local store's folder)."""
    uri = settings.mlflow_tracking_uri or ""
    name = "mlflow (MLFLOW_TRACKING_URI)"
    if uri.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.get(f"{uri.rstrip('/')}/health", timeout=TIMEOUT_S)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            return Check(
                name,
                False,
                f"{redact(uri)} does not answer /health: {exc}",
                "start the MLflow server (`make stack`) or correct MLFLOW_TRACKING_URI",
            )
        return Check(name, True, f"server {redact(uri)}")
    if uri.startswith("sqlite:///"):
        store = Path(uri.removeprefix("sqlite:///"))
        if not store.parent.exists():
            return Check(
                name,
                False,
                f"the local store folder {store.parent} does not exist",
                "run `make run` (training creates it) or point MLFLOW_TRACKING_URI at a server",
            )
        return Check(name, True, f"local store {store}")
    return Check(name, True, f"{redact(uri)} (not checked)")


def check_dagster_instance(settings: Settings) -> Check:
    """The Dagster instance in DAGSTER_HOME (default: ``$P3_HOME/dagster``, what ``make run`` uses)
    loads and its run storage answers."""
    home = os.environ.get("DAGSTER_HOME") or str(settings.dagster_home)
    name = "dagster instance (DAGSTER_HOME)"
    if not (Path(home) / "dagster.yaml").exists():
        return Check(
            name,
            False,
            f"{home}/dagster.yaml does not exist",
            "run `make run` or `p3 dagster-home` (local), or copy deploy/dagster.yaml there "
            "(production)",
        )
    import dagster as dg

    try:
        with dg.DagsterInstance.from_config(home) as instance:
            runs = instance.get_runs_count()
            storage = type(instance.run_storage).__name__
    except Exception as exc:  # Dagster raises many types here; each is reported, none hidden
        return Check(
            name,
            False,
            f"{home}/dagster.yaml does not load: {first_line(exc)}",
            "fix the named setting (PostgreSQL storage: P3_DAGSTER_DATABASE_URL, see deploy/dagster.yaml)",
        )
    return Check(name, True, f"{home} ({storage}, {runs} runs)")


def first_line(exc: BaseException) -> str:
    # Dagster's config errors carry a whole stack trace in their text; keep what a user can act on.
    text = str(exc)
    missing = re.search(r'environment variable "([A-Za-z0-9_]+)" which is not set', text)
    if missing:
        return f"{missing.group(1)} is not set"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a user fixes things: storage, then the services."""
    checks: list[Callable[[], Check]] = [
        lambda: check_warehouse(settings),
        lambda: check_snapshot(settings),
        lambda: check_redis(settings.redis_url),
        lambda: check_mlflow(settings),
        lambda: check_dagster_instance(settings),
    ]
    if settings.database_url:
        checks.insert(3, lambda: check_postgres(settings.database_url))
    else:
        not_set = Check("postgres (P3_DATABASE_URL)", True, "not configured: API keys in SQLite")
        checks.insert(3, lambda: not_set)
    return [check() for check in checks]
