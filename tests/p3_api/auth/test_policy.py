"""Every route of the app has exactly one access rule, and the table names no missing route."""

from __future__ import annotations

from pathlib import Path

from p3_api.app import create_app
from p3_api.auth import policy
from p3_api.auth.credentials import Role
from p3_api.config import ApiSettings
from p3_common.settings import Settings

from ..conftest import ApiServer

# Routes FastAPI serves outside the OpenAPI document.
UNDOCUMENTED = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}


def _operations(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app(Settings(home=tmp_path), ApiSettings())
    paths = app.openapi()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def test_every_route_in_the_openapi_document_has_an_access_rule(tmp_path: Path) -> None:
    missing = sorted(op for op in _operations(tmp_path) if policy.access_for(*op) is None)
    assert missing == [], f"add these routes to p3_api.auth.policy.RULES: {missing}"


def test_the_table_names_only_routes_that_exist(tmp_path: Path) -> None:
    stale = set(policy.RULES) - _operations(tmp_path) - UNDOCUMENTED
    assert stale == set(), f"rules for routes that no longer exist: {sorted(stale)}"


def test_anonymous_access_is_only_for_ergast_reads_and_the_token_endpoint() -> None:
    anonymous = {op for op, access in policy.RULES.items() if access == policy.ANONYMOUS}
    assert anonymous == {("GET", "/ergast/f1/{path}"), ("POST", "/oauth/token")}
    public = {op for op, access in policy.RULES.items() if access == policy.PUBLIC}
    assert {path for _, path in public} <= {
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    }
    assert policy.access_for("POST", "/v1/query") == Role.analyst
    assert policy.access_for("POST", "/v1/cache/clear") == Role.admin
    assert policy.access_for("HEAD", "/v1/drivers") == Role.viewer
    assert policy.access_for("GET", "/ergast/f1/{path:path}") == policy.ANONYMOUS


def test_the_openapi_document_declares_the_credentials_each_route_needs(
    api: ApiServer,
) -> None:
    with api.client() as client:
        document = client.get("/openapi.json").json()
    assert set(document["components"]["securitySchemes"]) == {"apiKey", "bearer", "oauth2"}
    flow = document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/oauth/token"
    query = document["paths"]["/v1/query"]["post"]["security"]
    assert {"oauth2": ["p3:analyst"]} in query and {"apiKey": []} in query
    assert "security" not in document["paths"]["/ergast/f1/{path}"]["get"]
    assert "security" not in document["paths"]["/healthz"]["get"]
