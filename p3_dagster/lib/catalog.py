"""Catalog policies applied to every asset once: owners by group, links to the defining code."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

# Who answers for an asset when it did not name its owners itself (dbt models do, via meta.owner).
OWNERS_BY_GROUP = {
    "ingestion": "team:data-platform",
    "staging": "team:data-platform",
    "intermediate": "team:analytics",
    "marts": "team:analytics",
    "serving": "team:data-platform",
    "ml": "team:ml",
}
DEFAULT_OWNER = "team:data-platform"


def owned(spec: dg.AssetSpec) -> dg.AssetSpec:
    """``spec`` with its group's owner when it has none."""
    if spec.owners:
        return spec
    return spec.replace_attributes(
        owners=[OWNERS_BY_GROUP.get(spec.group_name or "", DEFAULT_OWNER)]
    )


def catalogued(definitions: dg.Definitions) -> dg.Definitions:
    """``definitions`` with an owner on every asset and a code reference to the Python function
    that computes it (dbt models also link their SQL file, from the translator)."""
    with beta_code_references():
        referenced = dg.with_source_code_references(list(definitions.assets or []))
    assets = [
        asset.map_asset_specs(owned) if isinstance(asset, dg.AssetsDefinition) else asset
        for asset in referenced
    ]
    return dg.Definitions(
        assets=assets,
        asset_checks=definitions.asset_checks,
        jobs=definitions.jobs,
        schedules=definitions.schedules,
        sensors=definitions.sensors,
        resources=definitions.resources,
        executor=definitions.executor,
        loggers=definitions.loggers,
        metadata=definitions.metadata,
    )


@contextmanager
def beta_code_references() -> Iterator[None]:
    """Silence Dagster's BetaWarning for code references (beta in 1.13): we opt in on purpose,
    and one warning per asset would bury the output of every command that loads the code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        yield
