"""`p3 query`: answers and plans from JSON text or a YAML file, readable errors, exit codes."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from p3_dagster.cli import app
from tests.fixtures.snapshots import PublishedSnapshot

pytestmark = pytest.mark.slow

runner = CliRunner()
SPEC = {"entity": "constructor", "metrics": ["wins", "dnf_rate"], "order_by": ["-wins"], "limit": 3}


@pytest.fixture(autouse=True)
def published(snapshot: PublishedSnapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P3_SERVING_DUCKDB_PATH", str(snapshot.path))
    monkeypatch.delenv("P3_ERGAST_DIR", raising=False)  # the query command needs no source


def test_query_prints_the_answer_as_json() -> None:
    result = runner.invoke(app, ["query", json.dumps(SPEC), "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert len(body["rows"]) == 3
    assert body["rows"][0]["wins"] >= body["rows"][1]["wins"]


def test_query_reads_a_yaml_spec_and_prints_rich_tables(tmp_path: Path) -> None:
    spec = tmp_path / "q.yaml"
    spec.write_text(
        "entity: constructor\nmetrics: [wins]\ngroup_by: [season]\nstatistics: [mean]\n"
    )
    result = runner.invoke(app, ["query", str(spec), "--format", "table"])
    assert result.exit_code == 0, result.output
    assert "rows" in result.stdout and "statistics" in result.stdout and "build" in result.stdout


def test_query_explain_shows_sources_rewrites_and_sql() -> None:
    result = runner.invoke(app, ["query", json.dumps(SPEC), "--explain", "--format", "table"])
    assert result.exit_code == 0, result.output
    assert "read marts.mart_constructor_season" in result.stdout
    assert "rewrite: dnf_rate = dnfs / starts" in result.stdout
    assert "limit $limit" in result.stdout
    as_json = json.loads(
        runner.invoke(app, ["query", json.dumps(SPEC), "--explain", "-f", "json"]).stdout
    )
    assert as_json["sources"][0]["table"] == "marts.mart_constructor_season"


def test_query_writes_files_in_binary_formats(tmp_path: Path) -> None:
    target = tmp_path / "answer.parquet"
    result = runner.invoke(app, ["query", json.dumps(SPEC), "-f", "parquet", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:4] == b"PAR1"


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ('{"entity": "constructor", "metrics": ["champagne"]}', "unknown metric 'champagne'"),
        (
            '{"entity": "constructor", "ids": ["no_such_team"], "metrics": ["wins"]}',
            "unknown constructor",
        ),
        ("{broken", "not valid JSON"),
        (
            '{"entity": "driver", "ids": ["x\'; drop table marts.dim_drivers; --"], "metrics": ["wins"]}',
            "not an integer id or a ref",
        ),
    ],
)
def test_invalid_specs_exit_2_with_the_reason(spec: str, says: str) -> None:
    result = runner.invoke(app, ["query", spec, "-f", "json"])
    assert result.exit_code == 2
    assert says in " ".join(result.stderr.split())


def test_a_missing_snapshot_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P3_SERVING_DUCKDB_PATH", str(tmp_path / "none.duckdb"))
    result = runner.invoke(app, ["query", json.dumps(SPEC), "-f", "json"])
    assert result.exit_code == 1
    assert "no published snapshot" in " ".join(result.stderr.split())


def test_answers_read_through_the_cache_and_match_uncached_answers(
    isolated_p3_env: Path,
) -> None:
    first = runner.invoke(app, ["query", json.dumps(SPEC), "--format", "table"])
    second = runner.invoke(app, ["query", json.dumps(SPEC), "--format", "table"])
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert "cache miss" in " ".join(first.stdout.split())
    assert "cache hit (read-through)" in " ".join(second.stdout.split())
    # The cached answer is the engine's answer, byte for byte in JSON.
    cached = runner.invoke(app, ["query", json.dumps(SPEC), "-f", "json"])
    fresh = runner.invoke(app, ["query", json.dumps(SPEC), "-f", "json", "--no-cache"])
    assert json.loads(cached.stdout)["rows"] == json.loads(fresh.stdout)["rows"]
    # The embedded cache lives under P3_HOME and counted what happened.
    stats = runner.invoke(app, ["cache", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    counted = json.loads(stats.stdout)
    assert (counted["hits"], counted["misses"], counted["backend"]) == (2, 1, "embedded")
    assert (isolated_p3_env / "cache").is_dir()


def test_an_unreachable_redis_answers_from_the_snapshot_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as sock:  # a port nothing listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("P3_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    result = runner.invoke(app, ["query", json.dumps(SPEC), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["rows"]) == 3
    stderr = " ".join(result.stderr.split())
    assert "warning: redis cache unavailable" in stderr and "answering from the snapshot" in stderr
    assert stderr.count("warning:") == 1  # one outage, one warning
