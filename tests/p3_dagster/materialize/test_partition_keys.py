"""``p3 materialize`` ranges over the raw tables' seasons, whatever else is partitioned."""

from __future__ import annotations

import dagster as dg

from p3_dagster.defs.ingestion.assets import raw_asset_key
from p3_dagster.materialize import partition_keys


def test_the_run_ranges_over_the_raw_seasons_not_other_partitioned_assets() -> None:
    seasons = dg.StaticPartitionsDefinition(["2023", "2024"])
    races = dg.DynamicPartitionsDefinition(name="races")

    @dg.asset(key=raw_asset_key("results"), partitions_def=seasons)
    def results() -> None:
        """Stand-in raw table."""

    # Many race-partitioned assets: listing dynamic partitions needs an instance, so taking the
    # first partitioned asset of the (unordered) graph used to fail most of the time.
    reports = [dg.AssetSpec(["reports", f"report_{i}"], partitions_def=races) for i in range(20)]
    definitions = dg.Definitions(assets=[results, *reports])
    assert partition_keys(definitions) == ["2023", "2024"]
