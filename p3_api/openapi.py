"""The OpenAPI document with P3's credentials declared (an API key header, bearer tokens, and the
OAuth2 client-credentials flow; each operation lists them unless the policy table leaves it open)
and an example answer on every route (``examples``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .auth import policy
from .examples import install_examples

SCHEMES: dict[str, dict[str, Any]] = {
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A key from `p3 api-keys create` (also accepted as `Authorization: Bearer`).",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A token from /oauth/token, or from the configured identity provider.",
    },
    "oauth2": {
        "type": "oauth2",
        "flows": {
            "clientCredentials": {
                "tokenUrl": "/oauth/token",
                "scopes": {
                    "p3:viewer": "read /v1 lists and anomalies",
                    "p3:analyst": "also run queries, explains and predictions",
                    "p3:admin": "also control the cache",
                },
            }
        },
    },
}


def install_openapi(app: FastAPI) -> None:
    """Serve the OpenAPI document with ``SCHEMES`` and per-operation ``security``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        document.setdefault("components", {})["securitySchemes"] = SCHEMES
        install_examples(document)
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                access = policy.access_for(method.upper(), path)
                if access in (policy.PUBLIC, policy.ANONYMOUS):
                    continue  # open: no credentials needed
                scope = f"p3:{getattr(access, 'value', access)}"
                operation["security"] = [{"apiKey": []}, {"bearer": []}, {"oauth2": [scope]}]
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
