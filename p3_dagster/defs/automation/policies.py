"""Automation conditions and freshness policies, applied to the whole graph in one place."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

TRANSFORM_GROUPS = ("staging", "intermediate", "marts")

# Marts and the snapshot follow the weekly ingestion schedule; a day of slack before warning.
MARTS_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(days=9), warn_window=timedelta(days=8)
)


def eager_after_checks() -> dg.AutomationCondition:
    """Run when upstream data changed, but only once every upstream blocking check has passed.

    The quality gate of every automated path: a raw load whose blocking checks failed never
    starts dbt, the snapshot or a model, whichever sensor or schedule loaded it.
    """
    return dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()


def with_policies(spec: dg.AssetSpec) -> dg.AssetSpec:
    """dbt models and the snapshot follow new data once upstream blocking checks have passed;
    marts and the snapshot carry a freshness policy. Raw ingestion is started by schedules and
    sensors."""
    if spec.group_name in (*TRANSFORM_GROUPS, "serving"):
        spec = spec.replace_attributes(automation_condition=eager_after_checks())
    if spec.group_name in ("marts", "serving"):
        spec = dg.apply_freshness_policy(spec, MARTS_FRESHNESS)
    return spec
