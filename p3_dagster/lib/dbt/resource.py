"""The dbt CLI resource: dbt with P3's warehouse and target in its environment, and each run's
artifacts in a folder of their own under P3_HOME."""

from __future__ import annotations

import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from importlib.metadata import version
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliInvocation, DbtCliResource
from packaging.version import Version
from packaging.version import parse as parse_version
from pydantic import Field

from p3_common.settings import Settings

from .project import PARTIAL_PARSE_FILE, dbt_environment, dbt_executable, dbt_project


def build_dbt_resource(settings: Settings) -> P3DbtCliResource:
    """The dbt resource for ``settings``: its target (P3_ENV), warehouse, and run folders."""
    return P3DbtCliResource(
        project_dir=dbt_project(settings.env),
        target=settings.env,
        dbt_executable=dbt_executable(),
        environment=dbt_environment(settings),
        runs_dir=str(settings.home / "dbt" / "runs"),
        manifest_dir=str(Path(dbt_project(settings.env).manifest_path).parent),
    )


class P3DbtCliResource(DbtCliResource):
    """dbt CLI resource that runs dbt with P3's warehouse path and target in its environment.

    profiles.yml reads ``P3_DUCKDB_PATH`` and ``P3_ENV``; dagster-dbt hands dbt a copy of
    ``os.environ``, so the variables are set for the moment the subprocess starts rather than
    exported process-wide when definitions load.
    """

    environment: dict[str, str] = Field(
        default_factory=dict, description="Variables dbt must see (P3_DUCKDB_PATH, P3_ENV)."
    )
    runs_dir: str | None = Field(
        default=None,
        description="Where each invocation's target folder (run results, logs) goes; "
        "default: dagster-dbt's, inside the dbt project.",
    )
    manifest_dir: str | None = Field(
        default=None,
        description="The folder of the manifest the definitions load (its partial-parse state "
        "seeds a run folder when no earlier run left one).",
    )
    keep_runs: int = Field(
        default=30, ge=1, description="How many run folders to keep in runs_dir (oldest go first)."
    )

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        # dagster-dbt loads the project's macros into an in-process dbt adapter on every
        # invocation (~3 s of CPU) only for `fetch_row_counts`/`fetch_column_metadata`, which
        # cannot run against DuckDB while dbt holds the file; P3 reads relation metadata itself
        # after dbt exits (invocation.relation_metadata). No adapter, no cost.
        return None

    @cached_property
    def _cli_version(self) -> Version:
        # dagster-dbt learns the version by running `dbt --version` (a whole dbt start, 3 s here,
        # 13 s under load) before every invocation; the dbt beside this interpreter is the
        # installed dbt-core, whose version the package metadata gives at once.
        if Path(self.dbt_executable).parent == Path(sys.executable).parent:
            return parse_version(version("dbt-core"))
        return super()._cli_version

    def cli(self, args: Sequence[str], **kwargs: Any) -> DbtCliInvocation:
        if self.runs_dir and kwargs.get("target_path") is None:
            # Artifacts of every run belong with P3's other files under P3_HOME, not in the repo.
            prune_run_folders(Path(self.runs_dir), keep=self.keep_runs - 1)
            target_path = Path(self.runs_dir) / f"{_utc_stamp()}-{uuid.uuid4().hex[:8]}"
            seed_partial_parse(
                target_path,
                Path(self.runs_dir),
                Path(self.manifest_dir) if self.manifest_dir else None,
            )
            kwargs["target_path"] = target_path
        with _environ(self.environment):
            return super().cli(args, **kwargs)


def seed_partial_parse(target_path: Path, runs_dir: Path, manifest_dir: Path | None) -> Path | None:
    """Put dbt's partial-parse state into a new run folder; returns the file copied, if any.

    Each run gets a fresh target folder, where dbt finds no ``partial_parse.msgpack`` and parses
    the whole project (8-15 s here). dbt writes one into every run folder right after parsing and
    keeps it only if the project files, the profile (the warehouse path included) and the target
    are unchanged, so the newest run folder's is the best candidate (same home, same warehouse);
    the project's own (written by ``prepare_manifest``) is the fallback. dbt validates whichever
    it gets and falls back to a full parse, so a stale file only costs the parse it would have.
    """
    previous = sorted(
        (
            p
            for p in runs_dir.glob(f"*/{PARTIAL_PARSE_FILE}")
            if _RUN_FOLDER.fullmatch(p.parent.name)
        ),
        key=lambda p: p.parent.name,
        reverse=True,
    )
    fallback = [manifest_dir / PARTIAL_PARSE_FILE] if manifest_dir else []
    for candidate in [*previous, *fallback]:
        if candidate.parent == target_path or not candidate.is_file():
            continue
        target_path.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(candidate, target_path / PARTIAL_PARSE_FILE)
        except OSError:  # pruned by another process meanwhile: try the next one
            continue
        return candidate
    return None


def prune_run_folders(runs_dir: Path, *, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest run folders of ``runs_dir``; returns what was deleted.

    Folders are named ``<UTC stamp>-<random>``, so name order is age order. Anything else in the
    folder is left alone.
    """
    if not runs_dir.is_dir():
        return []
    runs = sorted(p for p in runs_dir.iterdir() if p.is_dir() and _RUN_FOLDER.fullmatch(p.name))
    doomed = runs[: max(len(runs) - keep, 0)]
    for folder in doomed:
        # Best effort: a folder another process already removed is not a reason to fail a run.
        shutil.rmtree(folder, ignore_errors=True)
    return doomed


_RUN_FOLDER = re.compile(r"\d{8}T\d{6}-[0-9a-f]{8}")


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S")


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
