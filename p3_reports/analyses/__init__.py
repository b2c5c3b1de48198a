"""Declarative analyses: a YAML document validated into queries, derived series and outputs.

``run_analysis`` (pandas, matplotlib) is imported on first use, so validating a declaration when
the code location loads costs neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import AnalysisConfig, AnalysisConfigError, load_analysis

if TYPE_CHECKING:
    from .run import AnalysisRun, CheckOutcome, run_analysis

__all__ = [
    "AnalysisConfig",
    "AnalysisConfigError",
    "AnalysisRun",
    "CheckOutcome",
    "load_analysis",
    "run_analysis",
]
_RUN_NAMES = {"AnalysisRun", "CheckOutcome", "run_analysis"}


def __getattr__(name: str) -> Any:
    if name in _RUN_NAMES:
        from . import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
