"""A CLI run as a run of the code location's ``materialize_everything_job``.

The run carries the origin of workspace.yaml's code location "p3", which is what the UI's "View
job", re-execution and the run-failure sensor match runs on. Dagster 1.13 has no public API that
creates a run with a code-location origin and executes it in this process (``dg.execute_job``
creates its own run without one), so the few internal imports this needs live here and nowhere
else.
"""

from __future__ import annotations

import os
import socket
import sys

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from p3_common.settings import REPO_ROOT, Settings
from p3_ingest.sources.source import season_ranges

from ..defs.jobs import MATERIALIZE_EVERYTHING_JOB
from .processes import process_start

# workspace.yaml's code location: runs launched here are runs of its job, so the UI, re-execution
# and the run-failure sensor treat them like runs launched from the UI.
CODE_LOCATION = "p3"


DEFINITIONS_MODULE = "p3_dagster.definitions"


# The name Dagster gives the repository of a module's Definitions.
REPOSITORY_NAME = "__repository__"


PID_TAG = "p3/pid"


PID_START_TAG = "p3/pid_start"


HOST_TAG = "p3/host"


SOURCE_TAG = "p3/source"


SEASONS_TAG = "p3/seasons"


# Progress is printed from the event log below; Dagster's own console logger would repeat it.
QUIET_LOGGING = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def run_tags(settings: Settings, seasons: list[str]) -> dict[str, str]:
    """Tags of a CLI run: who launched it (process and host, to detect it died) and what it loads."""
    tags = {
        "p3/launched_by": "p3 materialize",
        SOURCE_TAG: settings.source,
        SEASONS_TAG: season_ranges([int(s) for s in seasons]) if seasons else "none",
        PID_TAG: str(os.getpid()),
        PID_START_TAG: process_start(os.getpid()) or "",
        HOST_TAG: socket.gethostname(),
    }
    if seasons:
        # One run over the whole season range: the raw assets' single-run backfill policy.
        tags |= {
            "dagster/asset_partition_range_start": seasons[0],
            "dagster/asset_partition_range_end": seasons[-1],
        }
    return tags


def reconstructable_job():
    repository = ReconstructableRepository.for_module(
        DEFINITIONS_MODULE, "defs", working_directory=str(REPO_ROOT)
    )
    return repository.get_reconstructable_job(MATERIALIZE_EVERYTHING_JOB)


def create_cli_run(
    instance: dg.DagsterInstance,
    job,
    keys: set[dg.AssetKey] | frozenset[dg.AssetKey],
    tags: dict[str, str],
    run_id: str | None = None,
    run_config: dict | None = None,
) -> dg.DagsterRun:
    """A NOT_STARTED run of the code location's job over ``keys``, with the location's origin.

    The origin names code location "p3" (workspace.yaml), which is what the UI's "View job",
    re-execution and ``run_failure_alert_sensor`` match runs on.
    """
    subset = job.get_subset(asset_selection=frozenset(keys))
    origin = RemoteJobOrigin(
        repository_origin=RemoteRepositoryOrigin(
            code_location_origin=code_location_origin(), repository_name=REPOSITORY_NAME
        ),
        job_name=MATERIALIZE_EVERYTHING_JOB,
    )
    return instance.create_run_for_job(
        job_def=subset.get_definition(),
        run_id=run_id,
        run_config=run_config if run_config is not None else QUIET_LOGGING,
        tags=tags,
        asset_selection=frozenset(keys),
        remote_job_origin=origin,
        job_code_origin=job.get_python_origin(),
    )


def code_location_origin() -> ManagedGrpcPythonEnvCodeLocationOrigin:
    """The origin of workspace.yaml's code location "p3", as ``dagster dev`` loads it."""
    return ManagedGrpcPythonEnvCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(
            executable_path=sys.executable,
            module_name=DEFINITIONS_MODULE,
            working_directory=str(REPO_ROOT),
        ),
        location_name=CODE_LOCATION,
    )
