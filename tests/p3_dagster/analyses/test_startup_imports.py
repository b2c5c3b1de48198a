"""Loading the analyses and reports definitions imports no charting or PDF library: matplotlib,
WeasyPrint (and pandas, for the analyses) load when an asset materialises, not when the code
location starts. Checked in a fresh interpreter, where sys.modules shows what an import pulled in."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from p3_common.settings import REPO_ROOT

HEAVY = ("matplotlib", "weasyprint", "pandas")

# Import the modules, build their definitions (the five analyses compile their SQL and plan for
# the description) and resolve the graph, then list the heavy packages that got imported, and
# which module imported matplotlib first (a meta-path hook records the importing frames).
_PROBE = """
import json, sys, traceback

first = {}

class Hook:
    def find_spec(self, name, path=None, target=None):
        if name in HEAVY and name not in first:
            first[name] = [f.filename for f in traceback.extract_stack() if "/p3_" in f.filename
                           or "/ml/" in f.filename][-3:]
        return None

HEAVY = %r
sys.meta_path.insert(0, Hook())
%s
print(json.dumps({"imported": [m for m in HEAVY if m in sys.modules], "first": first}))
"""

_ANALYSES_AND_REPORTS = """
import dagster as dg
from p3_dagster.defs import analyses, reports
from p3_dagster.lib.components import OutputsResource
from p3_dagster.lib.resources import PublishedSnapshotResource
defs = dg.Definitions.merge(
    analyses.build_defs(),
    reports.build_defs(),
    dg.Definitions(resources={
        "outputs": OutputsResource(root="/nonexistent"),
        "snapshot": PublishedSnapshotResource(path="/nonexistent/serving.duckdb"),
        "ml_snapshot": PublishedSnapshotResource(path="/nonexistent/ml.duckdb"),
    }),
)
assert len(list(defs.resolve_asset_graph().get_all_asset_keys())) >= 8
"""

_WHOLE_LOCATION = """
from p3_common.settings import get_settings
from p3_dagster.definitions import build_definitions
build_definitions(get_settings()).resolve_asset_graph()
"""


def _probe(body: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("P3_")}
    env |= {"P3_ENV": "test", "P3_SOURCE": "demo"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE % (HEAVY, body)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_loading_the_analyses_and_reports_imports_no_chart_pdf_or_dataframe_library() -> None:
    found = _probe(_ANALYSES_AND_REPORTS)
    assert found["imported"] == [], found["first"]


@pytest.mark.slow
@pytest.mark.usefixtures("dbt_manifest")
def test_loading_the_whole_code_location_imports_no_matplotlib() -> None:
    found = _probe(_WHOLE_LOCATION)
    assert "matplotlib" not in found["imported"], found["first"]
