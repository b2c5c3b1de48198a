"""The five analyses materialised on the session's published snapshot: files, chart and preview
in the metadata, the result check; and the eager refresh after a publish."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from p3_dagster.defs.analyses import build_defs
from p3_dagster.lib.components import OutputsResource
from p3_dagster.lib.components.analysis import build_analysis_asset, load_declared
from p3_dagster.lib.resources import PublishedSnapshotResource
from tests.fixtures.snapshots import PublishedSnapshot

pytestmark = pytest.mark.slow

SNAPSHOT = dg.AssetKey(["serving", "warehouse_snapshot"])
ANALYSES = build_defs()


def _resources(snapshot: Path, home: Path) -> dict[str, object]:
    return {
        "snapshot": PublishedSnapshotResource(path=str(snapshot)),
        "outputs": OutputsResource(root=str(home)),
    }


def test_the_five_analyses_materialise_with_files_charts_and_passing_checks(
    snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    assets = list(ANALYSES.assets or [])
    result = dg.materialize(assets, resources=_resources(snapshot.path, tmp_path))
    assert result.success
    checks = {e.asset_key.path[1]: e for e in result.get_asset_check_evaluations()}
    for asset in assets:
        key = asset.key  # type: ignore[union-attr]
        name = key.path[1]
        metadata = result.asset_materializations_for_node(key.to_python_identifier())[0].metadata
        assert metadata["dagster/row_count"].value > 0, name
        assert "data:image/png;base64," in metadata["chart"].value, name
        assert "|" in metadata["preview"].value, name
        assert "select" in metadata["sql"].value and "estimated rows" in metadata["plan"].value
        # The SQL the description shows (compiled at load) is the SQL this run executed. On the
        # demo data a 1950s decade has no rows to estimate, so its run may pick another source.
        description = asset.descriptions_by_key[key]  # type: ignore[union-attr]
        described = set(re.findall(r"```sql\n(.*?)\n```", description, re.S))
        ran = {
            sql.strip() for sql in re.findall(r"```sql\n(.*?)\n```", metadata["sql"].value, re.S)
        }
        assert described <= ran if snapshot.kind == "real" else described & ran, name
        folder = tmp_path / "analyses" / name
        for suffix in (".csv", ".parquet", ".md", ".png", ".svg", ".html"):
            assert (folder / f"{name}{suffix}").stat().st_size > 0, (name, suffix)
        assert checks[name].passed, (name, checks[name].metadata)
    gaps = pd.read_parquet(
        tmp_path / "analyses/teammate_qualifying_gaps/teammate_qualifying_gaps.parquet"
    )
    assert gaps["teammate_quali_gap_sessions"].min() > 0
    assert gaps["quali_pace_over_teammate_pct"].tolist() == pytest.approx(
        (-gaps["teammate_quali_gap_pct"]).round(3).tolist(), abs=1e-9
    )
    battle = pd.read_parquet(tmp_path / "analyses/constructor_battle/constructor_battle.parquet")
    assert battle["points_per_race"].tolist() == pytest.approx(
        (battle["points"] / battle["races"]).tolist()
    )
    assert battle["entity_id"].nunique() == 3
    if snapshot.kind == "real":
        assert set(battle["entity_ref"]) == {"ferrari", "mclaren", "mercedes"}
        fragment = (tmp_path / "analyses/constructor_battle/constructor_battle.html").read_text()
        assert fragment.startswith('<section class="p3-analysis"') and "<svg" not in fragment
        assert "data:image/svg+xml;base64," in fragment


def test_a_result_outside_its_bounds_fails_the_check_but_keeps_the_outputs(
    snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    path = tmp_path / "tight" / "defs.yaml"
    path.parent.mkdir()
    path.write_text(
        "type: p3_dagster.lib.components.Analysis\n"
        "attributes:\n"
        "  title: Points\n"
        "  description: Points per team and season.\n"
        "  queries:\n"
        "    - spec: {entity: constructor, metrics: [points], group_by: [season, entity]}\n"
        "  outputs: [csv]\n"
        "  bounds: [{column: points, max: 1}]\n"
    )
    asset = build_analysis_asset(*load_declared(path, "tight"))
    result = dg.materialize([asset], resources=_resources(snapshot.path, tmp_path))
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "outside [None, 1.0]" in check.metadata["problems"].value
    assert (tmp_path / "analyses/tight/tight.csv").exists()


def test_analyses_are_requested_after_a_publish_and_not_before(tmp_path: Path) -> None:
    snapshot = dg.AssetSpec(SNAPSHOT)
    eager = [a for a in ANALYSES.assets or [] if a.key.path[1] != "championship_margins"]  # type: ignore[union-attr]
    defs = dg.Definitions(
        assets=[snapshot, *eager], resources=_resources(tmp_path / "serving.duckdb", tmp_path)
    )
    instance = dg.DagsterInstance.ephemeral()
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0, "nothing is published yet"
    instance.report_runless_asset_event(dg.AssetMaterialization(SNAPSHOT))
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert after.total_requested == len(eager) == 4
    for asset in eager:
        assert after.get_num_requested(asset.key) == 1  # type: ignore[union-attr]
