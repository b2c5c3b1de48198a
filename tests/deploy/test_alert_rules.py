"""The Prometheus alert rules parse, and `promtool test rules` proves when each fires."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy/prometheus"
TESTS = ("alerts_test.yml", "alerts_long_test.yml")


def promtool_test(promtool: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "test", "rules", *TESTS],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_alert_rules_parse(promtool: str) -> None:
    done = subprocess.run(
        [promtool, "check", "rules", str(RULES / "alerts.yml")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_rule_has_a_promtool_unit_test() -> None:
    import yaml

    rules = yaml.safe_load((RULES / "alerts.yml").read_text())
    alerts = {
        rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule
    }
    tested = set()
    for name in TESTS:
        for case in yaml.safe_load((RULES / name).read_text())["tests"]:
            tested |= {check["alertname"] for check in case.get("alert_rule_test", [])}
    assert alerts - tested == set()
    assert len(alerts) >= 11


def test_the_alert_rule_unit_tests_pass(promtool: str) -> None:
    done = promtool_test(promtool, RULES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(TESTS)


def test_the_unit_tests_catch_a_loosened_threshold(promtool: str, tmp_path: Path) -> None:
    # An error-rate alert at 50% instead of 5% would stay silent during a real outage.
    for name in (*TESTS, "alerts.yml"):
        shutil.copy(RULES / name, tmp_path / name)
    rules = tmp_path / "alerts.yml"
    text = rules.read_text()
    assert "expr: p3:api_error_ratio:rate5m > 0.05" in text
    rules.write_text(
        text.replace("p3:api_error_ratio:rate5m > 0.05", "p3:api_error_ratio:rate5m > 0.5")
    )
    done = promtool_test(promtool, tmp_path)
    assert done.returncode != 0
    assert "alertname: P3ApiErrorRateHigh" in done.stdout + done.stderr
