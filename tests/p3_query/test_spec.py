"""Query specs: normalisation, a hash stable across equivalent forms, and readable rejections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from p3_query.spec import MAX_LIMIT, QuerySpec, SpecError, parse_spec, validate_spec

BASE: dict[str, Any] = {
    "entity": "constructor",
    "ids": ["ferrari", "mclaren", "williams"],
    "seasons": "1980-2024",
    "metrics": ["points", "wins", "dnf_rate"],
    "group_by": ["season", "entity"],
    "statistics": ["mean", "trend", {"correlation": ["wins", "points"]}],
    "compare": True,
    "order_by": ["-points"],
}


def spec(**changes: Any) -> QuerySpec:
    return validate_spec(BASE | changes)


def test_the_hash_is_sha256_of_the_canonical_json() -> None:
    import hashlib

    s = spec()
    assert s.query_hash == hashlib.sha256(s.canonical_json().encode()).hexdigest()
    assert json.loads(s.canonical_json())["seasons"] == list(range(1980, 2025))


@pytest.mark.parametrize(
    "equivalent",
    [
        {"ids": ["Williams", "ferrari", "McLaren", "ferrari"]},
        {"seasons": list(range(1980, 2025))},
        {"seasons": {"from": 1980, "to": 2024}},
        {"seasons": ["1980-1999", "2000-2024"]},
        {"metrics": ["dnf_rate", "wins", "points", "WINS"]},
        {"group_by": ["entity", "season"]},
        {"statistics": ["correlation:points:wins", "trend", "mean", "mean"]},
        {"order_by": [{"field": "points", "descending": True}]},
        {"order_by": ["points desc"]},
        {"limit": 1000},  # the default, written out
        {"format": "csv"},  # the output format is not part of the question
    ],
)
def test_equivalent_specs_have_the_same_hash(equivalent: dict[str, Any]) -> None:
    assert spec(**equivalent).query_hash == spec().query_hash


def test_key_order_does_not_change_the_hash() -> None:
    reversed_keys = dict(reversed(list(BASE.items())))
    assert parse_spec(json.dumps(reversed_keys)).query_hash == spec().query_hash


def test_digit_string_ids_are_integer_ids() -> None:
    assert spec(ids=["6", 1, 3]).ids == (1, 3, 6)
    assert spec(ids=["6", 1, 3]).query_hash == spec(ids=[6, 3, 1]).query_hash


@pytest.mark.parametrize(
    "different",
    [
        {"seasons": "1980-2023"},
        {"ids": ["ferrari", "mclaren"]},
        {"limit": 10},
        {"order_by": ["points"]},
        {"compare": False},
        {"statistics": ["mean"]},
    ],
)
def test_different_questions_have_different_hashes(different: dict[str, Any]) -> None:
    assert spec(**different).query_hash != spec().query_hash


def test_defaults_are_filled() -> None:
    s = validate_spec({"entity": "driver", "metrics": "wins"})
    assert (s.ids, s.seasons, s.group_by, s.limit, s.format) == (
        (),
        None,
        ("entity",),
        1000,
        "json",
    )


def test_with_ids_keeps_the_rest_of_the_spec() -> None:
    resolved = spec().with_ids([6, 1, 3])
    assert resolved.ids == (1, 3, 6) and resolved.metrics == spec().metrics
    assert resolved.query_hash != spec().query_hash  # refs resolved = a different normal form


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"entity": "team"}, "entities are: driver, constructor, circuit, race"),
        ({"metrics": ["wins", "champagne"]}, "unknown metric 'champagne'; metrics are: points"),
        ({"metrics": []}, "at least one metric"),
        ({"seasons": "2024-1980"}, "is empty"),
        ({"seasons": []}, "season list is empty"),
        ({"seasons": "1900-1910"}, "outside 1950"),
        ({"limit": 0}, f"use 1..{MAX_LIMIT}"),
        ({"limit": 10**9}, f"use 1..{MAX_LIMIT}"),
        ({"limit": "lots"}, f"between 1 and {MAX_LIMIT}"),
        ({"ids": list(range(1, 60)), "compare": False}, "at most 50"),
        ({"ids": [0]}, "positive integers"),
        ({"group_by": ["team"]}, "group keys are season, entity, circuit"),
        ({"group_by": []}, "group by at least one"),
        ({"statistics": ["variance"]}, "statistics are mean, median"),
        ({"statistics": ["p100"]}, "p1..p99"),
        (
            {"statistics": [{"correlation": ["wins", "poles"]}]},
            "must be one of the query's metrics",
        ),
        ({"statistics": ["trend"], "group_by": ["entity"]}, "needs season in group_by"),
        ({"compare": True, "ids": ["ferrari"]}, "compare needs 2..8 ids"),
        ({"compare": True, "group_by": ["season"]}, "group_by must be [entity]"),
        ({"metrics": ["head_to_head"], "compare": False}, "set compare to true"),
        ({"order_by": ["poles"]}, "order by one of season, entity, points, wins, dnf_rate"),
        ({"format": "xlsx"}, "formats are: json, csv, parquet, arrow, markdown"),
        ({"colour": "red"}, "unknown field; fields are: entity, ids"),
    ],
)
def test_invalid_specs_say_what_is_wrong_and_what_is_allowed(
    changes: dict[str, Any], says: str
) -> None:
    with pytest.raises(SpecError, match="invalid query spec") as error:
        spec(**changes)
    assert says in str(error.value)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"entity": "circuit", "metrics": ["wins"]}, "not available for entity 'circuit'"),
        ({"entity": "race", "metrics": ["points"]}, "it exists for driver, constructor"),
        (
            {"entity": "driver", "metrics": ["points"], "group_by": ["entity", "circuit"]},
            "mart_driver_season has no circuit to group by",
        ),
        (
            {"entity": "circuit", "metrics": ["races"], "group_by": ["entity", "circuit"]},
            "group by entity, not circuit",
        ),
    ],
)
def test_a_metric_for_the_wrong_entity_or_grain_is_rejected(
    data: dict[str, Any], says: str
) -> None:
    with pytest.raises(SpecError) as error:
        validate_spec(data)
    assert says in str(error.value)


INJECTIONS = [
    "'; DROP TABLE marts.dim_drivers; --",
    "ferrari' OR '1'='1",
    "wins) FROM marts.dim_drivers; --",
    "1; ATTACH '/tmp/x.db' AS x",
    "$ids",
    'season"; select 1 --',
    "1 UNION SELECT * FROM p3_meta.build",
    "ferrari\n; drop",
    "points/*",
    "ｗｉｎｓ",
]


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize(
    "field",
    [
        "entity",
        "ids",
        "seasons",
        "metrics",
        "group_by",
        "statistics",
        "order_by",
        "limit",
        "format",
        "order_by.field",
        "statistics.correlation",
        "seasons.from",
    ],
)
def test_injection_attempts_in_every_string_field_are_rejected(field: str, payload: str) -> None:
    nested: dict[str, Any] = {
        "order_by.field": {"order_by": [{"field": payload, "descending": True}]},
        "statistics.correlation": {"statistics": [{"correlation": ["wins", payload]}]},
        "seasons.from": {"seasons": {"from": payload, "to": 2024}},
        "ids": {"ids": ["ferrari", payload]},
        "metrics": {"metrics": ["wins", payload]},
        "group_by": {"group_by": ["season", payload]},
        "statistics": {"statistics": ["mean", payload]},
        "order_by": {"order_by": [payload]},
    }
    changes = nested.get(field, {field: payload})
    with pytest.raises(SpecError):
        spec(**changes)


def test_specs_parse_from_json_text_and_json_or_yaml_files(tmp_path: Path) -> None:
    as_json = tmp_path / "q.json"
    as_json.write_text(json.dumps(BASE))
    as_yaml = tmp_path / "q.yaml"
    as_yaml.write_text(
        "entity: constructor\nids: [ferrari, mclaren, williams]\nseasons: 1980-2024\n"
        "metrics: [points, wins, dnf_rate]\ngroup_by: [season, entity]\n"
        "statistics: [mean, trend, {correlation: [wins, points]}]\ncompare: true\n"
        "order_by: ['-points']\n"
    )
    hashes = {parse_spec(json.dumps(BASE)).query_hash}
    hashes |= {parse_spec(str(as_json)).query_hash, parse_spec(as_yaml).query_hash}
    assert hashes == {spec().query_hash}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "is a JSON/YAML object"),
        ("missing.yaml", "not found"),
    ],
)
def test_unreadable_specs_are_rejected_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(SpecError, match=says):
        parse_spec(text)


# --------------------------------------------------------------------------- limits before validation


def test_yaml_aliases_past_the_limit_are_refused_before_expansion(tmp_path: Path) -> None:
    spec_file = tmp_path / "aliases.yaml"
    refs = ", ".join(["*w"] * 17)
    spec_file.write_text(f"entity: constructor\nx: &w wins\nmetrics: [{refs}]\n")
    with pytest.raises(SpecError, match="more than 16 YAML aliases"):
        parse_spec(spec_file)


def test_a_few_yaml_aliases_are_fine(tmp_path: Path) -> None:
    spec_file = tmp_path / "aliases.yaml"
    spec_file.write_text("entity: &e constructor\nmetrics: [wins]\ngroup_by: [entity]\n")
    assert parse_spec(spec_file).entity == "constructor"


def test_shared_sublists_count_as_expanded_and_stop_at_the_node_budget() -> None:
    inner = ["wins"] * 50
    data: dict[str, Any] = {"entity": "constructor", "metrics": [inner] * 50}  # 2,500 values
    with pytest.raises(SpecError, match="more than 2000 keys, items and values"):
        validate_spec(data)


def test_nesting_and_field_count_are_limited_for_dicts_too() -> None:
    with pytest.raises(SpecError, match="nested deeper than 8 levels"):
        validate_spec({"entity": "constructor", "metrics": [[[[[[[[["wins"]]]]]]]]]})
    with pytest.raises(SpecError, match="40 fields, at most 32 allowed"):
        validate_spec({f"k{i}": 0 for i in range(40)})


def test_json_depth_ignores_brackets_inside_strings() -> None:
    text = json.dumps({"entity": "constructor", "metrics": ["wins"], "ids": ["[" * 50]})
    with pytest.raises(SpecError, match="not an integer id or a ref"):
        parse_spec(text)
