"""The one table of who may call which route: (method, path template) -> access.

``PUBLIC`` routes need no credentials and are not rate-limited (probes, metrics, docs).
``ANONYMOUS`` routes need no credentials but are rate-limited per client IP (per credential when
one is sent). Every other route names the least role it needs. A route missing from the table is
refused (and a test fails), so a new route cannot ship unprotected.
"""

from __future__ import annotations

import re
from typing import Literal

from .credentials import Role

Access = Literal["public", "anonymous"] | Role
PUBLIC: Access = "public"
ANONYMOUS: Access = "anonymous"

RULES: dict[tuple[str, str], Access] = {
    # Operations and documentation.
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    # Client credentials for tokens; rate-limited per IP against guessing.
    ("POST", "/oauth/token"): ANONYMOUS,
    # Ergast-compatible reads: open, as Ergast was.
    ("GET", "/ergast/f1/{path}"): ANONYMOUS,
    # /v1 reads.
    ("GET", "/v1/drivers"): Role.viewer,
    ("GET", "/v1/constructors"): Role.viewer,
    ("GET", "/v1/circuits"): Role.viewer,
    ("GET", "/v1/races"): Role.viewer,
    ("GET", "/v1/seasons"): Role.viewer,
    ("GET", "/v1/anomalies"): Role.viewer,
    # Live races: the page (a static file) reads these with the viewer's key in a header.
    ("GET", "/v1/live/races"): Role.viewer,
    ("GET", "/v1/live/races/{season}/{round}"): Role.viewer,
    ("GET", "/v1/live/races/{season}/{round}/events"): Role.viewer,
    # Analysis: the query engine and model predictions.
    ("GET", "/v1/predictions"): Role.analyst,
    ("POST", "/v1/query"): Role.analyst,
    ("POST", "/v1/query/explain"): Role.analyst,
    ("GET", "/v1/compare/{entity}"): Role.analyst,
    # Cache control.
    ("GET", "/v1/cache/stats"): Role.admin,
    ("POST", "/v1/cache/clear"): Role.admin,
}

_CONVERTER = re.compile(r"\{(\w+):[^}]*\}")


def template(path: str) -> str:
    """A route's path as OpenAPI writes it (``/ergast/f1/{path:path}`` -> ``/ergast/f1/{path}``)."""
    return _CONVERTER.sub(r"{\1}", path)


def access_for(method: str, path: str) -> Access | None:
    """The access rule of ``method`` on route ``path`` (HEAD as GET); None when there is none."""
    verb = "GET" if method.upper() == "HEAD" else method.upper()
    return RULES.get((verb, template(path)))
