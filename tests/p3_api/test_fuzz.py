"""Schemathesis against the real server's OpenAPI document: generated requests for every route
(bounded examples) never get a 5xx, and every error is a problem document.

The operations are driven with Hypothesis directly: schemathesis' pytest plugin does not run
under pytest 9 (it reads a node attribute pytest no longer has)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from .conftest import ApiServer

EXAMPLES_PER_ROUTE = 30


def test_generated_requests_never_get_a_server_error(api: ApiServer) -> None:
    schema = schemathesis.openapi.from_url(f"{api.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_ROUTE,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=api.base_url, timeout=30)
            where = f"{case.method} {case.formatted_path} {case.query or ''}"
            if response.status_code >= 500:
                failures.append(f"{where}: {response.status_code} {response.text[:200]}")
            elif response.status_code >= 400 and "application/problem+json" not in str(
                response.headers.get("content-type")
            ):
                failures.append(f"{where}: {response.status_code} is not a problem document")

        check()
    assert failures == []
