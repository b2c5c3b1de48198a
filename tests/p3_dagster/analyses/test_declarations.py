"""Analysis declarations: the five shipped ones load; bad ones fail the load with one line naming
the file, the line and what is allowed; `dg scaffold`'s template is itself a valid analysis."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

import p3_dagster.defs.analyses as analyses_package
from p3_dagster.defs.analyses import build_defs, load_analyses
from p3_dagster.lib.components import OutputsResource
from p3_dagster.lib.components.analysis import load_declared, template_attributes
from p3_dagster.lib.resources import PublishedSnapshotResource
from p3_reports.analyses import AnalysisConfigError

ANALYSES_DIR = Path(analyses_package.__file__).parent
SHIPPED = {
    "constructor_battle",
    "teammate_qualifying_gaps",
    "championship_margins",
    "pit_stop_trend",
    "reliability_by_decade",
}
GOOD = """\
type: p3_dagster.lib.components.Analysis

attributes:
  title: "Points per race"
  description: "Per team and season."
  queries:
    - spec:
        entity: constructor
        metrics: [points, races]
        group_by: [season, entity]
  custom_metrics:
    points_per_race: points / races
  chart: {x: season, y: points_per_race, y_label: points per race}
"""


def _graph(defs: dg.Definitions, tmp_path: Path) -> dg.AssetGraph:
    resources = {
        "outputs": OutputsResource(root=str(tmp_path)),
        "snapshot": PublishedSnapshotResource(path=str(tmp_path / "serving.duckdb")),
    }
    return dg.Definitions.merge(defs, dg.Definitions(resources=resources)).resolve_asset_graph()


def _write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "defs.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_five_analyses_are_assets_downstream_of_the_snapshot_with_a_check(
    tmp_path: Path,
) -> None:
    graph = _graph(build_defs(), tmp_path)
    keys = {k for k in graph.get_all_asset_keys() if k.path[0] == "analyses"}
    assert {k.path[1] for k in keys} == SHIPPED
    snapshot = dg.AssetKey(["serving", "warehouse_snapshot"])
    for key in keys:
        node = graph.get(key)
        assert node.parent_keys == {snapshot}
        assert node.group_name == "analyses"
        description = node.description or ""
        config, _ = load_declared(ANALYSES_DIR / key.path[1] / "defs.yaml", key.path[1])
        assert description.startswith(config.description.strip()), key
        assert "```sql\nwith\n" in description and "```text\ngrain: one row per " in description
        assert node.owners == ["team:analytics"]
        assert [c.name for c in node.check_keys] == ["result_is_non_empty_and_within_bounds"]
    eager = graph.get(dg.AssetKey(["analyses", "constructor_battle"])).automation_condition
    assert eager is not None and "all_deps_blocking_checks_passed" in str(
        eager.get_label() or eager
    )
    cron = graph.get(dg.AssetKey(["analyses", "championship_margins"])).automation_condition
    assert cron is not None and "0 7 * * 1" in str(cron.get_label() or cron)


@pytest.mark.parametrize(
    ("replace", "by", "line", "message"),
    [
        (
            "points_per_race: points / races",
            "points_per_race: points / racez",
            12,
            "custom metric 'points_per_race': line 1, column 10: unknown metric 'racez'; "
            "did you mean 'races'? metrics here: ",
        ),
        (
            "points_per_race: points / races",
            "points_per_race: points / (races",
            12,
            "line 1, column 16: expected ')' to close the parenthesis",
        ),
        (
            "metrics: [points, races]",
            "metrics: [points, racez]",
            9,
            "unknown metric 'racez'; metrics are: points, race_points",
        ),
        (
            '  title: "Points per race"\n',
            "",
            3,
            "missing field 'title'; fields are: title, description, owners, queries",
        ),
        ("  chart:", "  colour: red\n  chart:", 13, "unknown field 'colour'; fields are: title"),
        (
            "y: points_per_race,",
            "y: ppr,",
            13,
            "unknown column 'ppr'; columns: season, entity_id, entity_ref, entity_name, points",
        ),
        (
            "  chart:",
            "  refresh: {cron: every monday}\n  chart:",
            13,
            "is not a 5-field cron string like '0 7 * * 1'",
        ),
        (
            "  chart:",
            "  owners: [somebody]\n  chart:",
            13,
            "owner 'somebody' must be an email address or 'team:<name>'",
        ),
    ],
)
def test_a_bad_declaration_fails_with_file_line_and_what_is_allowed(
    tmp_path: Path, replace: str, by: str, line: int, message: str
) -> None:
    assert replace in GOOD
    path = _write(tmp_path / "bad", GOOD.replace(replace, by, 1))
    with pytest.raises(AnalysisConfigError) as caught:
        load_declared(path, "bad")
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{path}:{line}: "), text
    assert message in text


@pytest.fixture
def probe_package(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A throwaway defs package on sys.path, as the code location loads defs/analyses."""
    name = f"probe_analyses_{tmp_path.name.replace('-', '_')}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    yield tmp_path, name
    sys.path.remove(str(tmp_path))
    sys.modules.pop(name, None)


def test_the_code_location_load_fails_with_the_one_line_error(
    probe_package: tuple[Path, str],
) -> None:
    root, name = probe_package
    _write(root / name / "good", GOOD)
    path = _write(root / name / "broken", GOOD.replace("points / races", "points / 0"))
    with pytest.raises(AnalysisConfigError) as caught:
        load_analyses(importlib.import_module(name), root)
    assert str(caught.value).startswith(f"{path}:12: custom metric 'points_per_race': ")
    assert "division by a literal zero" in str(caught.value)


def test_a_good_declaration_loads_through_the_component(probe_package: tuple[Path, str]) -> None:
    root, name = probe_package
    _write(root / name / "points_per_race", GOOD)
    defs = load_analyses(importlib.import_module(name), root)
    keys = _graph(defs, root).get_all_asset_keys()
    assert dg.AssetKey(["analyses", "points_per_race"]) in keys


def test_the_scaffold_template_is_a_valid_analysis(tmp_path: Path) -> None:
    document = {"type": "p3_dagster.lib.components.Analysis"}
    document["attributes"] = template_attributes("my_question")  # type: ignore[assignment]
    path = tmp_path / "my_question" / "defs.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    config, specs = load_declared(path, "my_question")
    assert config.name == "my_question"
    assert specs[0].custom_metrics[0].name == "points_per_race"


def test_a_saved_spec_beside_the_yaml_is_used_and_one_outside_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "spec.yaml").write_text(
        "entity: constructor\nmetrics: [wins]\ngroup_by: [season, entity]\n"
    )
    text = GOOD.replace(
        "    - spec:\n        entity: constructor\n        metrics: [points, races]\n"
        "        group_by: [season, entity]\n",
        "    - saved: spec.yaml\n",
    ).replace("  chart: {x: season, y: points_per_race, y_label: points per race}\n", "")
    text = text.replace("  custom_metrics:\n    points_per_race: points / races\n", "")
    config, specs = load_declared(_write(folder, text + "  outputs: [csv]\n"), "saved")
    assert specs[0].metrics == ("wins",)
    outside = _write(tmp_path / "outside", text.replace("spec.yaml", "../saved/spec.yaml"))
    with pytest.raises(AnalysisConfigError, match="must be a file beside defs.yaml"):
        load_declared(outside, "outside")
