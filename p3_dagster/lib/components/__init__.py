"""Component types of the P3 code location (registered for `dg` in pyproject [tool.dg.project])."""

from .analysis import Analysis
from .outputs import OutputsResource

__all__ = ["Analysis", "OutputsResource"]
