"""Auth and rate limits on real API servers (``python -m p3_api``): roles over HTTP, the token
endpoint, an external provider's tokens, limits shared through Redis by two servers, and the
per-process fallback when Redis is down."""

from __future__ import annotations

from pathlib import Path

from p3_api.auth.credentials import Role
from p3_api.auth.store import SqliteStore
from tests.fixtures.snapshots import PublishedSnapshot

from ..conftest import StartApi
from .conftest import IdentityProvider

SPEC = {"entity": "driver", "metrics": ["wins"], "limit": 3}


def _store(tmp_path: Path) -> SqliteStore:
    # start_api gives every server tmp_path/"home" as P3_HOME: the store they will all read.
    return SqliteStore(tmp_path / "home" / "api" / "keys.sqlite3")


def _samples(text: str, name: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) :].rsplit(" ", 1)
            found[labels] = float(value)
    return found


def test_roles_tokens_and_provider_tokens_over_http_with_redis_down(
    start_api: StartApi,
    snapshot: PublishedSnapshot,
    tmp_path: Path,
    identity_provider: IdentityProvider,
    closed_port: int,
) -> None:
    store = _store(tmp_path)
    keys = {role: store.create("api_key", f"{role.value}-user", role)[1] for role in Role}
    revoked, revoked_key = store.create("api_key", "leaver", Role.admin)
    client, client_secret = store.create("client", "etl", Role.analyst)
    server = start_api(
        snapshot.path,
        workers=1,
        P3_REDIS_URL=f"redis://127.0.0.1:{closed_port}/0",
        P3_API_RATE_ANONYMOUS="10/minute",
        P3_API_RATE_VIEWER="300/minute",
        P3_API_OIDC_ISSUER=identity_provider.issuer,
        P3_API_OIDC_AUDIENCE=identity_provider.audience,
        P3_API_OIDC_JWKS_URL=identity_provider.jwks_url,
    )
    store.revoke(revoked.key_id)

    def as_(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    with server.client(anonymous=True) as http:
        assert http.get("/healthz").status_code == 200
        anonymous = http.get("/v1/drivers")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        viewer = http.get("/v1/drivers", headers={"X-API-Key": keys[Role.viewer]})
        assert viewer.status_code == 200 and viewer.headers["ratelimit-limit"] == "300"
        assert http.post("/v1/query", json=SPEC, headers=as_(keys[Role.viewer])).status_code == 403
        assert http.post(
            "/v1/query", json=SPEC, headers=as_(keys[Role.analyst])
        ).status_code not in (
            401,
            403,
        )
        assert (
            http.post("/v1/cache/clear", json={}, headers=as_(keys[Role.analyst])).status_code
            == 403
        )
        assert http.get("/v1/drivers", headers=as_(revoked_key)).status_code == 401

        grant = {"grant_type": "client_credentials", "client_id": client.key_id}
        bad = http.post("/oauth/token", data=grant | {"client_secret": "x" * 43})
        assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
        too_much = http.post(
            "/oauth/token", data=grant | {"client_secret": client_secret, "scope": "p3:admin"}
        )
        assert too_much.status_code == 400 and too_much.json()["error"] == "invalid_scope"
        issued = http.post("/oauth/token", data=grant | {"client_secret": client_secret})
        assert issued.status_code == 200 and issued.headers["cache-control"] == "no-store"
        token = issued.json()
        assert token["token_type"] == "Bearer" and token["scope"] == "p3:viewer p3:analyst"
        assert http.get("/v1/drivers", headers=as_(token["access_token"])).status_code == 200
        assert http.post(
            "/v1/query/explain", json=SPEC, headers=as_(token["access_token"])
        ).status_code not in (401, 403)

        provider = identity_provider.token()
        assert http.get("/v1/drivers", headers=as_(provider)).status_code == 200
        expired = identity_provider.token(iat=1_000_000, exp=1_000_300)
        assert http.get("/v1/drivers", headers=as_(expired)).status_code == 401

        # Anonymous Ergast reads: allowed, limited per IP in this process's memory (Redis is down).
        # (Bad credentials and token requests above count against this IP too.)
        ergast = [http.get("/ergast/f1/circuits.json") for _ in range(10)]
        statuses = [r.status_code for r in ergast]
        first = statuses.index(429)
        assert 0 < first and set(statuses[:first]) == {200} and set(statuses[first:]) == {429}
        assert ergast[first - 1].headers["ratelimit-remaining"] == "0"
        limited = ergast[first]
        assert limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["ratelimit-limit"] == "10"

        metrics = http.get("/metrics").text
    failures = _samples(metrics, "p3_api_auth_failures_total")
    for reason in ("missing", "insufficient_role", "revoked", "unknown_credential", "expired"):
        assert failures.get(f'{{reason="{reason}"}}', 0) >= 1, (reason, failures)
    assert (
        _samples(metrics, "p3_api_rate_limit_fallback_total").get('{reason="unavailable"}', 0) >= 5
    )
    log = server.output()
    assert log.count("rate limits fall back to per-process memory") == 1
    assert "Traceback" not in log
    assert client_secret not in log and keys[Role.admin] not in log
    listed = {c.key_id: c for c in store.list_all()}
    assert listed[client.key_id].last_used_at is not None


def test_two_servers_on_one_redis_share_each_callers_limit(
    start_api: StartApi, snapshot: PublishedSnapshot, tmp_path: Path, redis_url: str
) -> None:
    _, key = _store(tmp_path).create("api_key", "busy", Role.viewer)
    env = {"P3_REDIS_URL": redis_url, "P3_API_RATE_VIEWER": "6/minute"}
    servers = [start_api(snapshot.path, workers=1, **env) for _ in range(2)]
    clients = [server.client(headers={"X-API-Key": key}) for server in servers]
    try:
        answers = [clients[i % 2].get("/v1/seasons") for i in range(8)]
    finally:
        for http in clients:
            http.close()
    assert [a.status_code for a in answers] == [200] * 6 + [429] * 2
    assert [a.headers["ratelimit-remaining"] for a in answers[:6]] == ["5", "4", "3", "2", "1", "0"]
    assert all(int(a.headers["retry-after"]) >= 1 for a in answers[6:])
