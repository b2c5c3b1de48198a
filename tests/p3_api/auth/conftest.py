"""Real services for the auth tests: a throwaway PostgreSQL database, the machine's Redis, an
identity provider's JWKS served over loopback, and a port nothing listens on."""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.fixtures.postgres import throwaway_database


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL, dropped after the test."""
    with throwaway_database("p3_auth_test") as url:
        yield url


@pytest.fixture
def closed_port() -> int:
    """A loopback port with no listener (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class IdentityProvider:
    """An RS256 signing key whose public half a loopback HTTP server publishes as a JWKS."""

    issuer: str
    audience: str
    jwks_url: str
    key: rsa.RSAPrivateKey
    kid: str

    def token(self, key: rsa.RSAPrivateKey | None = None, **overrides: Any) -> str:
        import time

        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "user-1",
            "scope": "openid p3:analyst",
            "iat": now,
            "exp": now + 300,
        } | overrides
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def identity_provider() -> Iterator[IdentityProvider]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = secrets.token_hex(4)
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": kid, "use": "sig"}
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    yield IdentityProvider(
        issuer="https://idp.example.test/",
        audience="p3-tests",
        jwks_url=f"http://127.0.0.1:{port}/.well-known/jwks.json",
        key=key,
        kid=kid,
    )
    server.shutdown()
    server.server_close()
