"""How dbt nodes become Dagster assets: keys by schema, groups by layer, raw sources joined to ingestion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

LAYERS = ("staging", "intermediate", "marts")


def model_asset_key(props: Mapping[str, Any]) -> dg.AssetKey:
    """``[schema, name]``: where the relation lands, e.g. ``marts/fct_race_results``."""
    return dg.AssetKey([props["schema"], props.get("alias") or props["name"]])


def source_asset_key(props: Mapping[str, Any]) -> dg.AssetKey:
    """``[schema, table]`` of a dbt source, e.g. ``raw/ergast__results``: the ingestion asset's key."""
    return dg.AssetKey([props["schema"], props.get("identifier") or props["name"]])


def layer(props: Mapping[str, Any]) -> str | None:
    """The layer a node belongs to: its folder under ``models/``, else (seeds) the schema it lands in."""
    fqn = props.get("fqn") or []
    folder = next((part for part in fqn[1:] if part in LAYERS), None)
    return folder or (props.get("schema") if props.get("schema") in LAYERS else None)


class P3DbtTranslator(DagsterDbtTranslator):
    """Keys are ``[schema, model]``; sources map onto ``raw/ergast__<table>``; groups are layers."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec.replace_attributes(key=source_asset_key(props))
        return spec.replace_attributes(
            key=model_asset_key(props),
            group_name=layer(props) or "transform",
            kinds={"dbt", "duckdb"},
            tags={**spec.tags, "layer": layer(props) or "transform"},
        )
