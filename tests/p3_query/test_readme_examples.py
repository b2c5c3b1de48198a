"""The `p3 query` examples of the README and docs/query-spec.md answer on the data they name."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from p3_dagster.cli import app
from tests.dbt.conftest import explicit_settings
from tests.fixtures.snapshots import PublishedSnapshot, build_snapshot

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", "docs/query-spec.md")
_BLOCK = r"<!-- {kind} queries -->(.*?)<!-- /{kind} queries -->"
_COMMAND = re.compile(r"p3 query (?:--explain )?'([^']*)'")

runner = CliRunner()


def examples(kind: str) -> list[tuple[str, dict[str, object]]]:
    """Every ``p3 query '<spec>'`` between ``<!-- kind queries -->`` markers of the documents."""
    found = []
    for name in DOCUMENTS:
        text = (REPO / name).read_text()
        for block in re.findall(_BLOCK.format(kind=kind), text, flags=re.DOTALL):
            found += [(name, json.loads(spec)) for spec in _COMMAND.findall(block)]
    return found


def answer(spec: dict[str, object], snapshot: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("P3_SERVING_DUCKDB_PATH", str(snapshot))
    monkeypatch.delenv("P3_ERGAST_DIR", raising=False)
    result = runner.invoke(app, ["query", json.dumps(spec), "--no-cache", "-f", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_answers_every_id(spec: dict[str, object], body: dict) -> None:
    assert body["rows"], spec
    if spec.get("ids"):
        answered = {str(value) for row in body["rows"] for value in row.values()}
        assert set(map(str, spec["ids"])) <= answered, (spec, body["rows"][:3])  # type: ignore[call-overload]
    if spec.get("compare"):
        assert body["comparison"], spec
    if spec.get("statistics"):
        assert body["statistics"], spec


@pytest.fixture(scope="module")
def demo_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The snapshot `make run` publishes on the default (demo) source."""
    settings = explicit_settings(tmp_path_factory.mktemp("readme_demo"))
    assert build_snapshot(settings).success
    assert settings.serving_duckdb_path is not None
    yield settings.serving_duckdb_path


def test_the_documents_have_demo_and_real_examples() -> None:
    demo, real = examples("demo"), examples("real")
    assert {name for name, _ in demo} == set(DOCUMENTS)
    assert {name for name, _ in real} == set(DOCUMENTS)


@pytest.mark.parametrize(("document", "spec"), examples("demo"))
def test_demo_examples_answer_on_what_make_run_builds(
    document: str, spec: dict[str, object], demo_snapshot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_answers_every_id(spec, answer(spec, demo_snapshot, monkeypatch))


@pytest.mark.parametrize(("document", "spec"), examples("real"))
def test_real_data_examples_answer_on_the_ergast_history(
    document: str,
    spec: dict[str, object],
    real_snapshot: PublishedSnapshot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert_answers_every_id(spec, answer(spec, real_snapshot.path, monkeypatch))
