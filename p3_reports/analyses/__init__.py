"""Declarative analyses: a YAML document validated into queries, derived series and outputs."""

from .config import AnalysisConfig, AnalysisConfigError, load_analysis
from .run import AnalysisRun, CheckOutcome, run_analysis

__all__ = [
    "AnalysisConfig",
    "AnalysisConfigError",
    "AnalysisRun",
    "CheckOutcome",
    "load_analysis",
    "run_analysis",
]
