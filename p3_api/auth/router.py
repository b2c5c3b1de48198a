"""``POST /oauth/token``: the OAuth 2.0 client-credentials grant (RFC 6749 section 4.4)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import parse_qs, unquote_plus

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..problems import Problem
from .credentials import is_client_id, role_of_scopes, secret_matches
from .failures import record
from .guard import Guard

router = APIRouter(tags=["auth"])

FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 4096


class TokenResponse(BaseModel):
    """An access token (RFC 6749 section 5.1)."""

    access_token: str = Field(description="A signed JWT; send it as `Authorization: Bearer`.")
    token_type: str = Field(default="Bearer")
    expires_in: int = Field(description="Seconds until the token expires.")
    scope: str = Field(description="The granted scopes, space-separated (`p3:viewer` ...).")


def _oauth_error(status: int, error: str, detail: str, **headers: str) -> Problem:
    # A problem document carrying RFC 6749's `error` code, so OAuth clients and ours both read it.
    return Problem(status, detail, error=error, headers={"Cache-Control": "no-store", **headers})


def _form(body: bytes) -> dict[str, str]:
    # The grant is a small urlencoded form; the standard library parses it (FastAPI's Form needs
    # python-multipart, which the API does not otherwise need).
    try:
        fields = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise _oauth_error(400, "invalid_request", "the form is not ASCII") from None
    if any(len(values) > 1 for values in fields.values()):
        raise _oauth_error(400, "invalid_request", "a form field is repeated")
    return {name: values[0] for name, values in fields.items()}


def _basic(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _oauth_error(401, "invalid_client", "malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _oauth_error(401, "invalid_client", "malformed Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


@router.post(
    "/oauth/token",
    summary="Get an access token (client credentials)",
    response_model=TokenResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FORM: {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string", "format": "password"},
                            "scope": {"type": "string", "example": "p3:analyst"},
                        },
                    }
                }
            },
        }
    },
    responses={
        400: {"description": "Unsupported grant or scope (problem with an OAuth `error`)"},
        401: {"description": "Unknown client or wrong secret (problem, `invalid_client`)"},
    },
)
async def token(
    request: Request, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> JSONResponse:
    """Exchange a client id and secret (form fields, or HTTP Basic) for a short-lived JWT whose
    `scope` is the requested scopes (default: every scope the client's role grants)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
        raise _oauth_error(400, "invalid_request", f"send the grant as {FORM}")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise _oauth_error(400, "invalid_request", "the form is too large")
    form = _form(body)
    if form.get("grant_type") != "client_credentials":
        raise _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    credentials = _basic(authorization) or (
        form.get("client_id", ""),
        form.get("client_secret", ""),
    )
    guard: Guard = request.app.state.guard
    client_id, secret = credentials
    client = (
        await run_in_threadpool(guard.store.get, client_id) if is_client_id(client_id) else None
    )
    if client is None or client.kind != "client" or not secret_matches(client, secret):
        record("unknown_credential")
        raise _oauth_error(
            401, "invalid_client", "unknown client or wrong secret", **{"WWW-Authenticate": "Basic"}
        )
    if client.revoked:
        record("revoked")
        raise _oauth_error(401, "invalid_client", "the client was revoked")
    requested = tuple(form.get("scope", "").split()) or client.scopes
    if not set(requested) <= set(client.scopes) or role_of_scopes(requested) is None:
        raise _oauth_error(
            400, "invalid_scope", f"this client may ask for: {' '.join(client.scopes)}"
        )
    access_token = guard.issuer.issue(client.key_id, requested)
    return JSONResponse(
        TokenResponse(
            access_token=access_token,
            expires_in=guard.issuer.ttl_seconds,
            scope=" ".join(requested),
        ).model_dump(),
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )
