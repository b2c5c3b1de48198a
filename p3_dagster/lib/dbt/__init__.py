"""The dbt wiring in one place: the project and its manifest, the CLI resource and its
environment, the translator, and running ``dbt build``. Definitions, ``p3 materialize`` and the
tests import it from here."""

from .changes import BuildPlan, BuildState, plan_build, read_state, source_fingerprints, write_state
from .invocation import (
    DbtConfig,
    build_marts_without_tests,
    dbt_build_args,
    failure_summary,
    relation_metadata,
    strip_ansi,
)
from .project import (
    DBT_PROJECT_DIR,
    dbt_environment,
    dbt_executable,
    dbt_project,
    ensure_manifest,
    manifest_key,
    parse_manifest,
    prepare_manifest,
)
from .resource import P3DbtCliResource, build_dbt_resource, prune_run_folders
from .translator import P3DbtTranslator

__all__ = [
    "DBT_PROJECT_DIR",
    "BuildPlan",
    "BuildState",
    "DbtConfig",
    "P3DbtCliResource",
    "P3DbtTranslator",
    "build_dbt_resource",
    "build_marts_without_tests",
    "dbt_build_args",
    "dbt_environment",
    "dbt_executable",
    "dbt_project",
    "ensure_manifest",
    "failure_summary",
    "manifest_key",
    "parse_manifest",
    "plan_build",
    "prepare_manifest",
    "prune_run_folders",
    "read_state",
    "relation_metadata",
    "source_fingerprints",
    "strip_ansi",
    "write_state",
]
