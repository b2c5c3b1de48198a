"""What `p3 materialize` pays for before its first step: loading the definitions imports no
training library (MLflow costs ~2 s of start-up; assets import it when they train)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from p3_common.settings import REPO_ROOT

pytestmark = pytest.mark.usefixtures("dbt_manifest")

HEAVY = ("mlflow", "lightgbm", "sklearn")


def test_loading_the_definitions_imports_no_training_library() -> None:
    script = (
        "import sys\n"
        "from p3_common.settings import get_settings\n"
        "from p3_dagster.definitions import build_definitions\n"
        "build_definitions(get_settings())\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1:] in ([], [""]), done.stdout
