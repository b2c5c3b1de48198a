"""The modern scoring is stated once (p3_common.ergast); dbt's seed must say the same."""

from __future__ import annotations

import csv

from p3_common.ergast import RACE_POINTS
from p3_common.settings import REPO_ROOT

SEED = REPO_ROOT / "dbt_project" / "seeds" / "modern_scoring.csv"


def test_the_dbt_modern_scoring_seed_equals_the_race_points_table() -> None:
    with SEED.open(newline="", encoding="utf-8") as handle:
        seed = {int(row["finish_position"]): float(row["points"]) for row in csv.DictReader(handle)}
    assert seed == {position: float(p) for position, p in enumerate(RACE_POINTS, start=1)}
