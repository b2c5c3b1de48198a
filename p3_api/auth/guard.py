"""The access check every route runs (an app-wide dependency): authenticate the caller, count
the request against its rate limit, and compare its role with the route's rule in ``policy``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from p3_common.settings import Settings

from ..config import ApiSettings
from ..problems import Problem
from ..ratelimit import Decision, RateLimiter
from . import policy
from .credentials import Credential, Role, parse_api_key, role_of_scopes, secret_matches
from .failures import AuthFailure, record
from .store import CredentialStore, open_store
from .tokens import ProviderVerifier, TokenIssuer, shared_secret, unverified_issuer_and_alg

logger = logging.getLogger("p3.api")

TOUCH_EVERY_SECONDS = 60.0  # last-used is written at most this often per key and process
MAX_CACHED_CREDENTIALS = 10_000
_BEARER = 'Bearer realm="p3"'


class _Unknown:
    """Marks credentials not recognised from memory (they need the store)."""


_UNKNOWN = _Unknown()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a credential, a token subject, or an anonymous client IP."""

    identity: str
    role: Role | None
    expires_at: float | None = None  # Unix time a token expires (None: an API key)

    @property
    def tier(self) -> str:
        """The rate-limit tier: the role, or anonymous."""
        return self.role.value if self.role else "anonymous"


class Guard:
    """Authentication, rate limits and authorisation for one API process."""

    def __init__(
        self,
        store: CredentialStore,
        issuer: TokenIssuer,
        limiter: RateLimiter | None,
        provider: ProviderVerifier | None = None,
        *,
        enabled: bool = True,
        credential_ttl: float = 0.0,
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.limiter = limiter
        self.provider = provider
        self.enabled = enabled
        self._touched: dict[str, float] = {}
        # Credentials read in the last ``credential_ttl`` seconds: a hot key costs no store read
        # per request; a revocation takes effect in every process within that time (0: at once).
        self.credential_ttl = credential_ttl
        self._credentials: dict[str, tuple[float, Credential | None]] = {}
        # Headers authenticated in the last ``credential_ttl`` seconds -> (until, principal).
        self._principals: dict[tuple[str | None, str | None], tuple[float, Principal]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, api: ApiSettings) -> Guard:
        secret = (
            api.jwt_secret.get_secret_value().encode()
            if api.jwt_secret
            else shared_secret(settings.home)
        )
        issuer = TokenIssuer(
            secret,
            issuer=api.jwt_issuer,
            audience=api.jwt_audience,
            ttl_seconds=api.token_ttl_seconds,
        )
        oidc = (api.oidc_issuer, api.oidc_audience, api.oidc_jwks_url)
        if any(oidc) and not all(oidc):
            raise ValueError(
                "set all of P3_API_OIDC_ISSUER, P3_API_OIDC_AUDIENCE and P3_API_OIDC_JWKS_URL, "
                "or none"
            )
        provider = (
            ProviderVerifier(
                issuer=api.oidc_issuer,  # type: ignore[arg-type]  # all set, checked above
                audience=api.oidc_audience,  # type: ignore[arg-type]
                jwks_url=api.oidc_jwks_url,  # type: ignore[arg-type]
            )
            if all(oidc)
            else None
        )
        limiter = (
            RateLimiter(
                settings.redis_url,
                {
                    "anonymous": api.rate_anonymous,
                    Role.viewer.value: api.rate_viewer,
                    Role.analyst.value: api.rate_analyst,
                    Role.admin.value: api.rate_admin,
                },
            )
            if api.rate_limits_enabled
            else None
        )
        if not api.auth_enabled:
            logger.warning("P3_API_AUTH_ENABLED=false: every caller acts as admin")
        return cls(
            open_store(settings),
            issuer,
            limiter,
            provider,
            enabled=api.auth_enabled,
            credential_ttl=api.credential_cache_seconds,
        )

    # -- authentication ------------------------------------------------------------------

    def authenticate(self, authorization: str | None, api_key: str | None) -> Principal | None:
        """The caller the headers name (None: no credentials); AuthFailure when they are bad."""
        if api_key is None and authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                # Basic and other schemes are not credentials here (Basic is /oauth/token's).
                return None
            api_key = value.strip()
        if api_key is None:
            return None
        if parse_api_key(api_key) is not None:
            return self._api_key(api_key)
        if api_key.count(".") == 2:
            return self._token(api_key)
        raise AuthFailure("malformed", "credentials are neither an API key nor a bearer token")

    def _api_key(self, key: str) -> Principal:
        key_id, _ = parse_api_key(key)  # type: ignore[misc]  # checked by the caller
        credential = self._credential(key_id)
        if credential is None or credential.kind != "api_key":
            raise AuthFailure("unknown_credential", "the API key is not valid")
        if not secret_matches(credential, key):
            raise AuthFailure("unknown_credential", "the API key is not valid")
        if credential.revoked:
            raise AuthFailure("revoked", "the API key was revoked")
        self._touch(credential)
        return Principal(f"key:{credential.key_id}", credential.role)

    def _token(self, token: str) -> Principal:
        claimed_issuer, alg = unverified_issuer_and_alg(token)
        if alg.lower() == "none":
            raise AuthFailure("alg_not_allowed", "unsigned tokens are not accepted")
        if claimed_issuer == self.issuer.issuer:
            claims = self.issuer.verify(token)
            client = self._credential(claims.subject)
            if client is None or client.kind != "client":
                raise AuthFailure("unknown_credential", "the token's client does not exist")
            if client.revoked:
                raise AuthFailure("revoked", "the token's client was revoked")
            self._touch(client)
            role = role_of_scopes([s for s in claims.scopes if s in client.scopes])
            return Principal(f"client:{client.key_id}", role, claims.expires_at)
        if self.provider is not None and claimed_issuer == self.provider.issuer:
            claims = self.provider.verify(token)
            return Principal(
                f"oidc:{claims.subject}", role_of_scopes(claims.scopes), claims.expires_at
            )
        raise AuthFailure("wrong_issuer", "the token's issuer is not trusted")

    def _credential(self, key_id: str) -> Credential | None:
        """The stored credential ``key_id``, read at most once per ``credential_ttl`` seconds."""
        now = time.monotonic()
        cached = self._credentials.get(key_id)
        if cached is not None and now - cached[0] < self.credential_ttl:
            return cached[1]
        credential = self.store.get(key_id)
        if len(self._credentials) >= MAX_CACHED_CREDENTIALS:
            self._credentials.clear()  # a flood of unknown ids must not grow memory
        self._credentials[key_id] = (now, credential)
        return credential

    def _touch(self, credential: Credential) -> None:
        now = time.monotonic()
        if now - self._touched.get(credential.key_id, -TOUCH_EVERY_SECONDS) < TOUCH_EVERY_SECONDS:
            return
        self._touched[credential.key_id] = now
        try:
            self.store.touch(credential.key_id, datetime.now(UTC))
        except Exception:  # bookkeeping only: a busy store must not refuse a valid key
            logger.warning("could not record the use of key %s", credential.key_id, exc_info=True)

    # -- the check ------------------------------------------------------------------------

    async def check(
        self,
        method: str,
        path: str,
        client_ip: str,
        authorization: str | None,
        api_key: str | None,
    ) -> Decision | None:
        """Authenticate, limit and authorise one request; a Problem (401, 403, 429) refuses it.
        Returns the rate-limit decision for the response headers.

        A credential seen in the last ``credential_ttl`` seconds is recognised from memory and
        the limit is one awaited Redis call, so a busy caller's check never leaves the event
        loop; only a credential not seen lately is read from the store, in a worker thread."""
        access = policy.access_for(method, path)
        if access is None:
            logger.error("no access rule for %s %s (add one to p3_api.auth.policy)", method, path)
            raise Problem(403, "this route has no access rule yet")
        if access == policy.PUBLIC:
            return None
        if not self.enabled:
            return await self._limit(Principal(f"ip:{client_ip}", Role.admin))
        try:
            principal = self._recognised(authorization, api_key)
            if principal is _UNKNOWN:
                principal = await run_in_threadpool(
                    self._authenticate_and_remember, authorization, api_key
                )
        except AuthFailure as failure:
            record(failure.reason)
            # Bad credentials count against the client IP, which bounds guessing.
            await self._limit(Principal(f"ip:{client_ip}", None))
            raise Problem(
                401, failure.detail, headers={"WWW-Authenticate": _bearer_error(failure.detail)}
            ) from None
        assert not isinstance(principal, _Unknown)
        decision = await self._limit(principal or Principal(f"ip:{client_ip}", None))
        if access == policy.ANONYMOUS:
            return decision
        assert isinstance(access, Role)
        if principal is None:
            record("missing")
            raise Problem(
                401,
                "this route needs credentials: an API key (X-API-Key or Authorization: Bearer) "
                "or a bearer token from /oauth/token",
                headers={"WWW-Authenticate": _BEARER} | (decision.headers() if decision else {}),
            )
        if principal.role is None or not principal.role.allows(access):
            record("insufficient_role")
            have = principal.role.value if principal.role else "no P3 role"
            raise Problem(
                403,
                f"this route needs the {access.value} role (the credentials have {have})",
                headers=decision.headers() if decision else None,
            )
        return decision

    def _recognised(
        self, authorization: str | None, api_key: str | None
    ) -> Principal | None | _Unknown:
        """The caller, when it needs no I/O to know: no credentials at all, or credentials
        authenticated within ``credential_ttl`` seconds (and, for a token, not expired since)."""
        if api_key is None and not authorization:
            return None
        remembered = self._principals.get((authorization, api_key))
        if remembered is not None and time.monotonic() < remembered[0]:
            return remembered[1]
        return _UNKNOWN

    def _authenticate_and_remember(
        self, authorization: str | None, api_key: str | None
    ) -> Principal | None:
        principal = self.authenticate(authorization, api_key)
        if principal is not None and self.credential_ttl > 0:
            until = time.monotonic() + self.credential_ttl
            if principal.expires_at is not None:  # a token is never honoured past its exp
                until = min(until, time.monotonic() + principal.expires_at - time.time())
            if len(self._principals) >= MAX_CACHED_CREDENTIALS:
                self._principals.clear()
            self._principals[(authorization, api_key)] = (until, principal)
        return principal

    async def _limit(self, principal: Principal) -> Decision | None:
        if self.limiter is None:
            return None
        decision = await self.limiter.hit(principal.tier, principal.identity)
        if not decision.allowed:
            raise Problem(
                429,
                f"rate limit of {decision.limit} requests reached; retry in "
                f"{max(decision.reset_seconds, 1)} s",
                headers=decision.headers(),
            )
        return decision

    def close(self) -> None:
        self.store.close()


def _bearer_error(detail: str) -> str:
    return f'{_BEARER}, error="invalid_token", error_description="{detail}"'


async def enforce(request: Request) -> None:
    """The app-wide dependency: runs ``Guard.check`` on the matched route and leaves the
    rate-limit decision for the headers."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return  # not a routed request; the router answers 404/405 itself
    guard: Guard = request.app.state.guard
    decision = await guard.check(
        request.method,
        path,
        request.client.host if request.client else "unknown",
        request.headers.get("authorization"),
        request.headers.get("x-api-key"),
    )
    if decision is not None:
        request.state.rate_limit = decision
