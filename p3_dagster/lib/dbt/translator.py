"""How dbt nodes become Dagster assets: keys by schema, groups by layer, raw sources joined to ingestion."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

LAYERS = ("staging", "intermediate", "marts")
DEFAULT_OWNER = "team:data-platform"

_LEADING_COMMENT = re.compile(r"\A\s*((?:--[^\n]*\n\s*)+)")


def model_asset_key(props: Mapping[str, Any]) -> dg.AssetKey:
    """``[schema, name]``: where the relation lands, e.g. ``marts/fct_race_results``."""
    return dg.AssetKey([props["schema"], props.get("alias") or props["name"]])


def source_asset_key(props: Mapping[str, Any]) -> dg.AssetKey:
    """``[schema, table]`` of a dbt source, e.g. ``raw/ergast__results``: the ingestion asset's key."""
    return dg.AssetKey([props["schema"], props.get("identifier") or props["name"]])


def asset_key(props: Mapping[str, Any]) -> dg.AssetKey:
    """The asset key of any dbt node: sources land on the raw ingestion assets, the rest by schema."""
    if props["resource_type"] == "source":
        return source_asset_key(props)
    return model_asset_key(props)


def layer(props: Mapping[str, Any]) -> str | None:
    """The layer a node belongs to: its folder under ``models/``, else (seeds) the schema it lands in."""
    fqn = props.get("fqn") or []
    folder = next((part for part in fqn[1:] if part in LAYERS), None)
    return folder or (props.get("schema") if props.get("schema") in LAYERS else None)


def owners(props: Mapping[str, Any]) -> list[str]:
    """``meta.owner`` of the node (a string or a list; dbt_project.yml sets one per layer)."""
    meta = {**(props.get("meta") or {}), **((props.get("config") or {}).get("meta") or {})}
    owner = meta.get("owner") or DEFAULT_OWNER
    return [owner] if isinstance(owner, str) else list(owner)


def check_description(props: Mapping[str, Any]) -> str:
    """What a dbt test asserts: its YAML description, else the leading SQL comment of a singular
    test, else a sentence built from a generic test's name and arguments."""
    described = (props.get("meta") or {}).get("description") or props.get("description")
    if described:
        return " ".join(str(described).split())
    generic = props.get("test_metadata") or {}
    if generic:
        kwargs = {k: v for k, v in (generic.get("kwargs") or {}).items() if k != "model"}
        column = kwargs.pop("column_name", None)
        subject = f"column `{column}`" if column else "the model"
        args = ", ".join(f"{k}={v}" for k, v in sorted(kwargs.items()) if "{{" not in str(v))
        return f"dbt `{generic.get('name')}` test on {subject}" + (f" ({args})" if args else "")
    match = _LEADING_COMMENT.match(props.get("raw_code") or "")
    if match:
        lines = [line.strip().removeprefix("--").strip() for line in match.group(1).splitlines()]
        return " ".join(line for line in lines if line)
    return f"dbt test `{props['name']}`"


class P3DbtTranslator(DagsterDbtTranslator):
    """Keys are ``[schema, model]``; sources map onto ``raw/ergast__<table>``; groups are layers.

    Source tests stay dbt-side (they run in ``dbt build``) and their results are recorded as
    observations of the raw assets: as checks they would pull the dbt step into every ingestion
    job. Owners come from ``meta.owner``; code references point at each model's SQL file.
    """

    def __init__(self) -> None:
        super().__init__(
            settings=DagsterDbtTranslatorSettings(
                enable_asset_checks=True, enable_code_references=True
            )
        )

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        return asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "ingestion"
        return layer(dbt_resource_props) or "transform"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        return owners(dbt_resource_props)

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        tags = dict(super().get_tags(dbt_resource_props))
        if dbt_resource_props["resource_type"] != "source":
            tags["layer"] = layer(dbt_resource_props) or "transform"
        return tags

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if self.get_resource_props(manifest, unique_id)["resource_type"] == "source":
            return spec
        return spec.replace_attributes(kinds={"dbt", "duckdb"})

    def get_asset_check_spec(
        self,
        asset_spec: dg.AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: Any,
    ) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        props = self.get_resource_props(manifest, unique_id)
        return dg.AssetCheckSpec(
            name=spec.name,
            asset=spec.asset_key,
            description=check_description(props),
            additional_deps=spec.additional_deps,
            metadata=spec.metadata,
            blocking=spec.blocking,
        )
