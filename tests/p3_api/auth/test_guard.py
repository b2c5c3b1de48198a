"""Authentication and authorisation decisions of ``Guard.check``: API keys, the API's own tokens,
an external provider's tokens (JWKS over loopback), and each refusal counted by reason."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from p3_api.auth.credentials import Role
from p3_api.auth.failures import REASONS, failure_counts
from p3_api.auth.guard import Guard
from p3_api.auth.store import SqliteStore
from p3_api.auth.tokens import ProviderVerifier, TokenIssuer, shared_secret
from p3_api.problems import Problem

from .conftest import IdentityProvider

SECRET = b"s" * 32


@pytest.fixture
def guard(tmp_path: Path, identity_provider: IdentityProvider) -> Guard:
    return Guard(
        SqliteStore(tmp_path / "keys.sqlite3"),
        TokenIssuer(SECRET, issuer="p3", audience="p3-api", ttl_seconds=900),
        limiter=None,
        provider=ProviderVerifier(
            issuer=identity_provider.issuer,
            audience=identity_provider.audience,
            jwks_url=identity_provider.jwks_url,
        ),
    )


def refusal(guard: Guard, method: str, path: str, token: str | None) -> tuple[int, str]:
    """The status and failure reason ``check`` refuses with (the counter that moved)."""
    before = failure_counts()
    with pytest.raises(Problem) as refused:
        asyncio.run(
            guard.check(method, path, "10.0.0.1", f"Bearer {token}" if token else None, None)
        )
    after = failure_counts()
    moved = [r for r in after if after[r] != before.get(r, 0)]
    assert len(moved) == 1, moved
    return refused.value.status, moved[0]


def allowed(guard: Guard, method: str, path: str, token: str | None) -> bool:
    try:
        asyncio.run(
            guard.check(method, path, "10.0.0.1", f"Bearer {token}" if token else None, None)
        )
    except Problem:
        return False
    return True


def test_roles_grant_their_routes_and_nothing_more(guard: Guard) -> None:
    keys = {role: guard.store.create("api_key", "t", role)[1] for role in Role}
    matrix = {
        ("GET", "/v1/drivers"): {Role.viewer, Role.analyst, Role.admin},
        ("POST", "/v1/query"): {Role.analyst, Role.admin},
        ("GET", "/v1/predictions"): {Role.analyst, Role.admin},
        ("POST", "/v1/cache/clear"): {Role.admin},
    }
    for (method, path), roles in matrix.items():
        for role, key in keys.items():
            assert allowed(guard, method, path, key) == (role in roles), (method, path, role)
            if role not in roles:
                assert refusal(guard, method, path, key) == (403, "insufficient_role")
    assert refusal(guard, "GET", "/v1/drivers", None) == (401, "missing")
    assert allowed(guard, "GET", "/ergast/f1/{path:path}", None)
    assert allowed(guard, "GET", "/healthz", None)


def test_bad_and_revoked_keys_are_401(guard: Guard) -> None:
    credential, key = guard.store.create("api_key", "t", Role.admin)
    assert refusal(guard, "GET", "/v1/drivers", key[:-2] + "xx") == (401, "unknown_credential")
    assert refusal(guard, "GET", "/v1/drivers", "p3k_0000000000000000_" + "a" * 43) == (
        401,
        "unknown_credential",
    )
    assert refusal(guard, "GET", "/v1/drivers", "not-a-key") == (401, "malformed")
    # Even an anonymous route refuses bad credentials rather than ignoring them.
    assert refusal(guard, "GET", "/ergast/f1/{path}", "not-a-key") == (401, "malformed")
    guard.store.revoke(credential.key_id)
    assert refusal(guard, "GET", "/v1/drivers", key) == (401, "revoked")


def test_own_tokens_carry_the_clients_scopes_and_die_with_it(guard: Guard) -> None:
    client, _ = guard.store.create("client", "svc", Role.analyst)
    token = guard.issuer.issue(client.key_id, ("p3:viewer",))
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="p3-api")
    assert {"scope", "sub", "iss", "aud", "exp", "iat"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 900
    assert allowed(guard, "GET", "/v1/drivers", token)
    assert refusal(guard, "POST", "/v1/query", token) == (403, "insufficient_role")
    guard.store.revoke(client.key_id)
    assert refusal(guard, "GET", "/v1/drivers", token) == (401, "revoked")


def _unsigned(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_forged_expired_and_misaddressed_tokens_are_401(guard: Guard) -> None:
    client, _ = guard.store.create("client", "svc", Role.admin)
    now = int(time.time())
    base = {"iss": "p3", "aud": "p3-api", "sub": client.key_id, "scope": "p3:admin"}
    claims = base | {"iat": now, "exp": now + 60}

    def own(secret: bytes = SECRET, **changes: object) -> str:
        return jwt.encode(claims | changes, secret, algorithm="HS256")

    assert allowed(guard, "POST", "/v1/cache/clear", own())
    cases = {
        "alg none": (_unsigned(claims), "alg_not_allowed"),
        "forged": (own(b"f" * 32), "bad_signature"),
        "expired": (own(iat=now - 600, exp=now - 300), "expired"),
        "other audience": (own(aud="someone-else"), "wrong_audience"),
        "unknown issuer": (own(iss="https://evil.example/"), "wrong_issuer"),
        "no exp": (jwt.encode(base | {"iat": now}, SECRET, algorithm="HS256"), "invalid_token"),
    }
    for name, (token, reason) in cases.items():
        assert refusal(guard, "GET", "/v1/drivers", token) == (401, reason), name


def test_provider_tokens_are_verified_against_its_jwks(
    guard: Guard, identity_provider: IdentityProvider
) -> None:
    idp = identity_provider
    assert allowed(guard, "POST", "/v1/query", idp.token())
    assert refusal(guard, "POST", "/v1/query", idp.token(scope="openid p3:viewer")) == (
        403,
        "insufficient_role",
    )
    assert refusal(guard, "GET", "/v1/drivers", idp.token(scope="openid")) == (
        403,
        "insufficient_role",
    )
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    cases = {
        "forged": (idp.token(key=other_key), "bad_signature"),
        "expired": (idp.token(iat=now - 600, exp=now - 300), "expired"),
        "other audience": (idp.token(aud="another-api"), "wrong_audience"),
        "alg none": (
            _unsigned({"iss": idp.issuer, "aud": idp.audience, "sub": "x", "exp": now + 60}),
            "alg_not_allowed",
        ),
        # The provider's public key used as an HS256 secret (algorithm confusion).
        "hs256 with the issuer": (
            jwt.encode(
                {"iss": idp.issuer, "aud": idp.audience, "sub": "x", "iat": now, "exp": now + 60},
                SECRET,
                algorithm="HS256",
                headers={"kid": idp.kid},
            ),
            "alg_not_allowed",
        ),
        "unknown kid": (
            jwt.encode(
                {"iss": idp.issuer, "aud": idp.audience, "sub": "x", "iat": now, "exp": now + 60},
                other_key,
                algorithm="RS256",
                headers={"kid": "nope"},
            ),
            "unknown_signing_key",
        ),
    }
    for name, (token, reason) in cases.items():
        assert refusal(guard, "GET", "/v1/drivers", token) == (401, reason), name


def test_every_counted_reason_is_a_documented_one(guard: Guard) -> None:
    assert set(failure_counts()) <= set(REASONS)


def test_the_generated_signing_key_is_private_and_shared(tmp_path: Path) -> None:
    first = shared_secret(tmp_path)
    assert shared_secret(tmp_path) == first and len(first) >= 64
    assert (tmp_path / "api" / "jwt_secret").stat().st_mode & 0o777 == 0o600


def test_a_cached_key_is_revoked_everywhere_within_the_cache_lifetime(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "keys.sqlite3")
    _, key = store.create("api_key", "leaver", Role.viewer)
    credential_id = key.split("_")[1]
    guard = Guard(
        store,
        TokenIssuer(SECRET, issuer="p3", audience="p3-api", ttl_seconds=900),
        limiter=None,
        credential_ttl=0.3,
    )
    assert (
        asyncio.run(guard.check("GET", "/v1/drivers", "10.0.0.1", None, key)) is None
    )  # allowed, cached
    store.revoke(credential_id)
    assert (
        asyncio.run(guard.check("GET", "/v1/drivers", "10.0.0.1", None, key)) is None
    )  # still cached
    time.sleep(0.35)
    with pytest.raises(Problem) as refused:
        asyncio.run(guard.check("GET", "/v1/drivers", "10.0.0.1", None, key))
    assert refused.value.status == 401
