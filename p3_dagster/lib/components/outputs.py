"""Where analyses and reports write their files: folders under P3_HOME."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field


class OutputsResource(dg.ConfigurableResource):
    """The root of the files analyses and reports write (``$P3_HOME``): ``analyses/<name>/`` and
    ``reports/...`` below it."""

    root: str = Field(description="Folder the outputs go under (P3_HOME).")

    def folder(self, *parts: str) -> Path:
        """``root/parts...``, created if needed."""
        path = Path(self.root).joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path
