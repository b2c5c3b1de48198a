"""Access tokens: the HS256 JWTs ``/oauth/token`` issues, and an external provider's tokens
verified by issuer, audience and JWKS (PyJWT does the cryptography and the claim checks)."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from .failures import AuthFailure

OWN_ALGORITHM = "HS256"
# What an identity provider signs with; symmetric algorithms are excluded so a provider's public
# key can never be used as an HMAC secret (algorithm confusion).
PROVIDER_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
_REQUIRED = ["exp", "iat", "iss", "aud", "sub"]


def shared_secret(home: Path) -> bytes:
    """The signing key every worker shares when ``P3_API_JWT_SECRET`` is unset.

    Made once (512 random bits) in ``$P3_HOME/api/jwt_secret`` with mode 0600: written to a
    private temporary file, then hard-linked into place, so workers starting together agree on
    the first one written and never read a half-written key.
    """
    path = home / "api" / "jwt_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".jwt_secret.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(64))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another worker won; use its key
        finally:
            temporary.unlink(missing_ok=True)
    return path.read_text().strip().encode()


@dataclass(frozen=True)
class Claims:
    """A verified token's subject, scopes and expiry."""

    issuer: str
    subject: str
    scopes: tuple[str, ...]
    expires_at: float  # Unix time (the `exp` claim)


def _scopes(payload: dict[str, Any]) -> tuple[str, ...]:
    # RFC 8693 `scope` is a space-separated string; some providers send `scp` as a list.
    scope = payload.get("scope", payload.get("scp", ""))
    if isinstance(scope, str):
        return tuple(scope.split())
    if isinstance(scope, list):
        return tuple(str(s) for s in scope)
    return ()


def _decode(token: str, key: Any, algorithms: list[str], issuer: str, audience: str) -> Claims:
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=audience,
            issuer=issuer,
            options={"require": _REQUIRED},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise AuthFailure("expired", "the token has expired") from None
    except jwt.InvalidAudienceError:
        raise AuthFailure("wrong_audience", "the token is not meant for this API") from None
    except jwt.InvalidIssuerError:
        raise AuthFailure("wrong_issuer", "the token's issuer is not trusted") from None
    except jwt.InvalidAlgorithmError:
        raise AuthFailure("alg_not_allowed", "the token's algorithm is not accepted") from None
    except jwt.InvalidSignatureError:
        raise AuthFailure("bad_signature", "the token's signature is not valid") from None
    except jwt.InvalidTokenError:
        raise AuthFailure("invalid_token", "the token is not valid") from None
    return Claims(
        issuer=payload["iss"],
        subject=str(payload["sub"]),
        scopes=_scopes(payload),
        expires_at=float(payload["exp"]),
    )


class TokenIssuer:
    """Issues and verifies the API's own short-lived HS256 access tokens."""

    def __init__(self, secret: bytes, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self._secret = secret
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds

    def issue(self, subject: str, scopes: tuple[str, ...]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + self.ttl_seconds,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._secret, algorithm=OWN_ALGORITHM)

    def verify(self, token: str) -> Claims:
        return _decode(token, self._secret, [OWN_ALGORITHM], self.issuer, self.audience)


class ProviderVerifier:
    """Verifies an external OpenID provider's tokens against its JWKS (keys cached, refetched
    when an unknown ``kid`` appears, as PyJWKClient does)."""

    def __init__(self, *, issuer: str, audience: str, jwks_url: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)

    def verify(self, token: str) -> Claims:
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise AuthFailure(
                "unknown_signing_key", "the identity provider's keys cannot be fetched"
            ) from None
        except jwt.PyJWKClientError:
            raise AuthFailure(
                "unknown_signing_key", "the token's signing key is not the provider's"
            ) from None
        except jwt.DecodeError:
            raise AuthFailure("malformed", "the token is not a JWT") from None
        return _decode(token, key, list(PROVIDER_ALGORITHMS), self.issuer, self.audience)


def unverified_issuer_and_alg(token: str) -> tuple[str | None, str]:
    """The ``iss`` and ``alg`` a token claims, read only to pick its verifier."""
    try:
        header = jwt.get_unverified_header(token)
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise AuthFailure("malformed", "the token is not a JWT") from None
    issuer = payload.get("iss")
    return (issuer if isinstance(issuer, str) else None), str(header.get("alg", ""))
