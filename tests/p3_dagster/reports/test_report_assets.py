"""The report assets materialised on the session's published snapshot: the newest race's and
season's, and any race's partition of reports/post_race."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from p3_dagster.defs.reports import build_defs
from p3_dagster.lib.components import OutputsResource
from p3_dagster.lib.resources import PublishedSnapshotResource
from tests.fixtures.snapshots import PublishedSnapshot

pytestmark = pytest.mark.slow

POST_RACE = dg.AssetKey(["reports", "post_race"])
LATEST_RACE = dg.AssetKey(["reports", "latest_race"])
SEASON = dg.AssetKey(["reports", "season"])


def _resources(snapshot: Path, home: Path) -> dict[str, object]:
    return {
        "snapshot": PublishedSnapshotResource(path=str(snapshot)),
        "ml_snapshot": PublishedSnapshotResource(path=str(home / "no_ml.duckdb")),
        "outputs": OutputsResource(root=str(home)),
    }


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, object]:
    (event,) = result.asset_materializations_for_node(key.to_python_identifier())
    return {k: v.value for k, v in event.metadata.items()}


def test_the_newest_race_and_season_reports_are_written_by_default(
    snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    with duckdb.connect(str(snapshot.path), read_only=True) as con:
        season, round_, winner = con.execute(
            "select r.season, r.round, d.full_name from marts.fct_race_results as r"
            " join marts.dim_drivers as d using (driver_id)"
            " where r.position_order = 1 order by r.season desc, r.round desc limit 1"
        ).fetchone()  # type: ignore[misc]
    newest = [a for a in build_defs().assets or [] if a.key != POST_RACE]  # type: ignore[union-attr]
    result = dg.materialize(newest, resources=_resources(snapshot.path, tmp_path))
    assert result.success
    race = _metadata(result, LATEST_RACE)
    assert race["race_key"] == f"{season}-{round_}" and race["winner"] == winner
    assert "Prediction against the result" in str(race["sections_without_data"])
    pdf = tmp_path / "reports" / "post_race" / f"{season}-{round_}.pdf"
    assert race["pdf"] == str(pdf) and pdf.read_bytes().startswith(b"%PDF")
    assert "data:image/png;base64," in str(race["chart"])
    yearly = _metadata(result, SEASON)
    assert yearly["season"] == season
    assert (tmp_path / "reports" / "season" / f"{season}.html").exists()


def test_any_race_is_a_partition_of_the_post_race_report(
    snapshot: PublishedSnapshot, tmp_path: Path
) -> None:
    with duckdb.connect(str(snapshot.path), read_only=True) as con:
        season, round_ = con.execute(
            "select season, min(round) from marts.dim_races"
            " where season = (select min(season) from marts.fct_race_results) group by season"
        ).fetchone()  # type: ignore[misc]
    post_race = next(a for a in build_defs().assets or [] if a.key == POST_RACE)  # type: ignore[union-attr]
    race = f"{season}-{round_}"
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("races", [race])
    result = dg.materialize(
        [post_race],
        resources=_resources(snapshot.path, tmp_path),
        instance=instance,
        partition_key=race,
        run_config={"ops": {"reports__post_race": {"config": {"pdf": False}}}},
    )
    assert result.success
    assert _metadata(result, POST_RACE)["race_key"] == f"{season}-{round_}"
    assert (tmp_path / "reports" / "post_race" / f"{season}-{round_}.html").exists()
    assert not (tmp_path / "reports" / "post_race" / f"{season}-{round_}.pdf").exists()
