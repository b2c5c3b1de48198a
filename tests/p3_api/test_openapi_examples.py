"""Every route documents an example answer, and each example has the shape of the real answer
(the same keys, nested) on a live server: documentation that cannot drift from the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from p3_api.app import create_app
from p3_api.auth.credentials import Role
from p3_api.auth.store import SqliteStore
from p3_api.examples import EXAMPLES, Example
from tests.dbt.conftest import explicit_settings
from tests.fixtures.snapshots import PublishedSnapshot

from .conftest import StartApi
from .test_ml_routes import publish_ml_outputs

# Routes whose answers need a running race stream; their examples are checked in the live tests.
LIVE_PREFIX = "/v1/live/"


def operations(tmp_path: Path, snapshot: PublishedSnapshot) -> dict[tuple[str, str], Any]:
    app = create_app(explicit_settings(tmp_path, serving_duckdb_path=snapshot.path))
    return {
        (method.upper(), path): operation
        for path, methods in app.openapi()["paths"].items()
        for method, operation in methods.items()
    }


def test_every_route_in_the_openapi_document_shows_an_example_answer(
    tmp_path: Path, snapshot: PublishedSnapshot
) -> None:
    documented = operations(tmp_path, snapshot)
    without = sorted(route for route in documented if route not in EXAMPLES)
    assert not without, f"routes without an example in p3_api.examples: {without}"
    for route, operation in documented.items():
        example = EXAMPLES[route]
        content = operation["responses"][str(example.status)]["content"][example.media_type]
        assert content["example"] == example.value, route
    stale = sorted(route for route in EXAMPLES if route not in documented)
    assert not stale, f"examples of routes that no longer exist: {stale}"


def shape(value: Any) -> Any:
    """Keys all the way down (a list by its first item); ``{}`` in an example means free-form."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__ if value is None else "value"


def same_shape(example: Any, actual: Any, where: str = "") -> list[str]:
    """Where ``example`` and ``actual`` differ in keys (values and list lengths may differ)."""
    if isinstance(example, dict) and isinstance(actual, dict):
        if not example:
            return []  # free-form in the example (builds, notes)
        if example.keys() != actual.keys():
            return [f"{where or '/'}: keys {sorted(example)} != {sorted(actual)}"]
        return [d for k in example for d in same_shape(example[k], actual[k], f"{where}/{k}")]
    if isinstance(example, list) and isinstance(actual, list):
        if not example or not actual:
            return []
        return same_shape(example[0], actual[0], f"{where}[0]")
    if isinstance(example, dict | list) != isinstance(actual, dict | list):
        return [f"{where}: {type(example).__name__} != {type(actual).__name__}"]
    return []


@pytest.fixture(scope="module")
def ml_outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return publish_ml_outputs(tmp_path_factory.mktemp("ml_outputs"))


def call(
    client: Any,
    method: str,
    route: str,
    example: Example,
    token_form: dict[str, str],
    refs: list[str],
) -> Any:
    """The example's request, its driver refs swapped for two the snapshot has (demo or real)."""
    if route == "/oauth/token":
        return client.post(route, data=token_form)
    if method == "POST":
        body = dict(example.request)  # type: ignore[arg-type]
        if "ids" in body:
            body["ids"] = refs[: len(body["ids"])]
        return client.post(route, json=body)
    path = str(example.request).replace("hamilton,max_verstappen", ",".join(refs))
    return client.get(path)


def test_each_example_has_the_shape_of_the_real_answer(
    start_api: StartApi, snapshot: PublishedSnapshot, ml_outputs: Path
) -> None:
    server = start_api(snapshot.path, workers=1, P3_ML_SNAPSHOT_PATH=str(ml_outputs))
    store = SqliteStore(server.log.parent / "home" / "api" / "keys.sqlite3")
    client_credential, secret = store.create("client", "docs", Role.analyst)
    token_form = {
        "grant_type": "client_credentials",
        "client_id": client_credential.key_id,
        "client_secret": secret,
    }
    refs = [r for (r,) in snapshot.query("select driver_ref from marts.dim_drivers limit 2")]
    differences = {}
    with server.client() as client:
        for (method, route), example in EXAMPLES.items():
            if route.startswith(LIVE_PREFIX):
                continue
            answer = call(client, method, route, example, token_form, refs)
            assert answer.status_code == example.status, (route, answer.text[:300])
            if example.media_type != "application/json":
                assert answer.headers["content-type"].startswith(example.media_type), route
                continue
            found = same_shape(example.value, answer.json())
            if found:
                differences[(method, route)] = found
    assert not differences, differences
