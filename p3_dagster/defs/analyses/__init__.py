"""Declared analyses: one folder per question, each a ``defs.yaml`` of the Analysis component.

Add one with ``dg scaffold defs p3_dagster.lib.components.Analysis analyses/<name>`` and fill in
its attributes (see README, "Analyses and reports").
"""

from __future__ import annotations

import functools
import importlib
import warnings
from pathlib import Path
from types import ModuleType

import dagster as dg

from p3_reports.analyses import AnalysisConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@functools.cache
def build_defs() -> dg.Definitions:
    """Every analysis declared below this folder, loaded as Dagster components."""
    return load_analyses(importlib.import_module(__name__), PROJECT_ROOT)


def load_analyses(module: ModuleType, project_root: Path) -> dg.Definitions:
    """The components declared below ``module``'s folder; a bad declaration raises its
    one-line AnalysisConfigError (file, line, what is allowed) instead of Dagster's tree."""
    with warnings.catch_warnings():
        # The component loader uses preview/beta internals (code references); their warnings
        # say nothing about our YAML and would repeat on every load.
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        # Dagster's YAML model loader still calls pydantic's parse_obj_as (deprecated in v2).
        warnings.filterwarnings("ignore", message=".*parse_obj_as.*", category=DeprecationWarning)
        tree = dg.ComponentTree.from_module(defs_module=module, project_root=project_root)
        try:
            return tree.build_defs()
        except Exception as exc:
            declared = _declaration_error(exc)
            if declared is None:
                raise
            # Its own frames say nothing the message does not: Dagster's error view (`dagster
            # definitions validate`, `dg check defs`, the UI) then shows the one line and this
            # load, not the validator's insides.
            raise declared.with_traceback(None) from None


def _declaration_error(exc: BaseException | None) -> AnalysisConfigError | None:
    while exc is not None:
        if isinstance(exc, AnalysisConfigError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None
