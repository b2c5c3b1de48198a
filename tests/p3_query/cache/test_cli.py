"""``p3 cache stats | clear`` over the configured (embedded) cache."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from p3_common.settings import get_settings
from p3_query.cache import QueryRef, WarmItem, open_cache
from p3_query.cache.cli import app
from p3_query.spec import validate_spec


def ref(metric: str) -> QueryRef:
    return QueryRef.of(validate_spec({"entity": "driver", "metrics": [metric]}))


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()  # P3_HOME is per test
    yield
    get_settings.cache_clear()


def test_stats_prints_the_analytics_of_the_configured_cache() -> None:
    with open_cache() as cache:
        item = WarmItem(ref("wins"), lambda: b"x")
        cache.warm("b1", [item])
        cache.get_or_compute(ref("wins"), bytes)
        cache.get_or_compute(ref("poles"), bytes)
    result = CliRunner().invoke(app, ["stats"])
    assert result.exit_code == 0, result.output
    assert "P3 query cache (embedded)" in result.output
    assert "50.0%" in result.output and "hottest queries" in result.output
    as_json = json.loads(CliRunner().invoke(app, ["stats", "--json"]).output)
    assert (as_json["hits"], as_json["misses"], as_json["current_build"]) == (1, 1, "b1")


def test_clear_asks_first_and_then_empties_the_cache() -> None:
    with open_cache() as cache:
        item = WarmItem(ref("wins"), lambda: b"x")
        cache.warm("b1", [item])
    assert CliRunner().invoke(app, ["clear"], input="n\n").exit_code == 1
    result = CliRunner().invoke(app, ["clear", "--yes"])
    assert result.exit_code == 0 and "deleted 1 entries" in result.output
    with open_cache() as cache:
        assert cache.current_build() is None
