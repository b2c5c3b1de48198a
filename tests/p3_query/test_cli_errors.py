"""`p3 query` as a user runs it (a subprocess): hostile specs and broken setups fail fast, in one line.

No snapshot is built: every case here must fail before the snapshot is read, or read a broken one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

P3 = str(Path(sys.executable).with_name("p3"))
SPEC = {"entity": "constructor", "metrics": ["wins"], "limit": 3}
BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
entity: constructor
metrics: *i
"""


def run_query(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 20
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``p3 query ARGS`` with a clean P3 environment under ``tmp_path``; (result, seconds)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("P3_", "MLFLOW_"))}
    clean |= {
        "P3_HOME": str(tmp_path / "home"),
        "P3_SERVING_DUCKDB_PATH": str(tmp_path / "serving.duckdb"),
        **(env or {}),
    }
    started = time.monotonic()
    result = subprocess.run(
        [P3, "query", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return result, time.monotonic() - started


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr
    assert says in lines[0], lines[0]


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    spec = tmp_path / "bomb.yaml"
    spec.write_text(BOMB)
    assert spec.stat().st_size < 1024
    for extra in ([], ["--explain"]):
        result, seconds = run_query(tmp_path, str(spec), "-f", "json", *extra)
        assert_one_line_error(result, 2, "more than 16 YAML aliases")
        assert seconds < 10


def test_a_spec_with_300k_unknown_keys_is_refused_by_size(tmp_path: Path) -> None:
    spec = tmp_path / "keys.json"
    spec.write_text(json.dumps(SPEC | {f"k{i}": i for i in range(300_000)}))
    result, seconds = run_query(tmp_path, str(spec), "-f", "json")
    assert_one_line_error(result, 2, "a spec may be at most 65,536 bytes")
    assert seconds < 10


def test_many_unknown_keys_within_the_size_limit_are_one_line(tmp_path: Path) -> None:
    body = json.dumps(SPEC | {f"k{i}": 0 for i in range(3_000)})
    result, _ = run_query(tmp_path, body, "-f", "json")
    assert_one_line_error(result, 2, "3003 fields, at most 32 allowed")


def test_deeply_nested_json_is_one_line(tmp_path: Path) -> None:
    body = '{"entity": "constructor", "metrics": ' + "[" * 20_000 + "]" * 20_000 + "}"
    result, _ = run_query(tmp_path, body, "-f", "json")
    assert_one_line_error(result, 2, "nested deeper than 8 levels")
    spec = tmp_path / "deep.yaml"
    spec.write_text("entity: constructor\nmetrics: " + "[" * 5_000 + "]" * 5_000 + "\n")
    result, _ = run_query(tmp_path, str(spec), "-f", "json")
    assert_one_line_error(result, 2, "nested deeper than 8 levels")


def test_a_non_utf8_spec_file_is_one_line(tmp_path: Path) -> None:
    for name in ("latin1.yaml", "latin1.json"):
        spec = tmp_path / name
        spec.write_bytes(b'{"entity": "constructor", "metrics": ["wins"], "ids": ["m\xe9"]}')
        result, _ = run_query(tmp_path, str(spec), "-f", "json")
        assert_one_line_error(result, 2, f"{spec} is not UTF-8 text (byte 0xe9 at offset 57)")


def test_a_corrupt_snapshot_is_one_line(tmp_path: Path) -> None:
    snapshot = tmp_path / "serving.duckdb"
    snapshot.write_bytes(b"this is not a duckdb file\n" * 500)
    result, _ = run_query(tmp_path, json.dumps(SPEC), "-f", "json", "--no-cache")
    assert_one_line_error(result, 1, f"{snapshot} is not a P3 snapshot")
    result, _ = run_query(tmp_path, json.dumps(SPEC), "--explain", "-f", "json")
    assert_one_line_error(result, 1, f"{snapshot} is not a P3 snapshot")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"P3_REDIS_URL": "notaurl"}, "P3_REDIS_URL"),
        ({"P3_ERGAST_DIR": ""}, "P3_ERGAST_DIR"),
        (
            {
                "P3_DUCKDB_PATH": "/tmp/p3-same.duckdb",
                "P3_SERVING_DUCKDB_PATH": "/tmp/p3-same.duckdb",
            },
            "P3_SERVING_DUCKDB_PATH",
        ),
    ],
)
def test_bad_settings_are_one_line_naming_the_variable(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    result, _ = run_query(tmp_path, json.dumps(SPEC), "-f", "json", env=env)
    assert_one_line_error(result, 2, says)
