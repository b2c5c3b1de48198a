"""Authentication failures counted by reason (``p3_api_auth_failures_total{reason}``)."""

from __future__ import annotations

from prometheus_client import Counter

AUTH_FAILURES = Counter(
    "p3_api_auth_failures_total",
    "Requests refused for their credentials (401) or role (403), by reason.",
    ["reason"],
)

# Every reason the API counts; a test checks each one is reachable.
REASONS = (
    "missing",  # no credentials on a route that needs them
    "malformed",  # not an API key, not a JWT
    "unknown_credential",  # no such key or client, or the secret is wrong
    "revoked",
    "alg_not_allowed",  # alg none, or an algorithm the issuer does not use
    "bad_signature",
    "expired",
    "wrong_audience",
    "wrong_issuer",
    "unknown_signing_key",  # a kid the provider's JWKS does not list, or the JWKS is unreachable
    "invalid_token",  # any other unusable token (missing claims, not yet valid, ...)
    "insufficient_role",  # 403
)


class AuthFailure(Exception):
    """Credentials that do not authenticate; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def record(reason: str) -> None:
    """Count one failure."""
    AUTH_FAILURES.labels(reason).inc()


def failure_counts() -> dict[str, float]:
    """This process's failures by reason (``/metrics`` has the sum over every worker)."""
    counts: dict[str, float] = {}
    for metric in AUTH_FAILURES.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                counts[sample.labels["reason"]] = sample.value
    return counts
