"""Every Grafana panel's and provisioned alert rule's query parses, and reads only metrics the real
exporters expose: the API's /metrics and the P3 exporter's, scraped here from running processes.
The Grafana alert rules are generated from deploy/prometheus/alerts.yml (one definition)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from deploy import stack
from p3_api.auth.credentials import Role
from p3_api.auth.store import SqliteStore
from tests.deploy.processes import REPO, serving
from tests.deploy.promql import metric_names, selector_labels
from tests.fixtures.servers import free_port
from tests.fixtures.snapshots import PublishedSnapshot

DASHBOARDS = sorted((REPO / "deploy/grafana/dashboards").glob("*.json"))
# Grafana's interval variable; any duration parses the same way.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m"}
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expression) of every panel target."""
    out = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                out.append((path.stem, panel["title"], expr))
    return out


def grafana_rules() -> list[dict]:
    """Every rule of the provisioned Grafana alerting file."""
    document = yaml.safe_load(stack.GRAFANA_ALERTS_FILE.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def alert_queries() -> list[tuple[str, str]]:
    """(rule, expression) of every Prometheus query in the Grafana alert rules."""
    return [
        (rule["uid"], query["model"]["expr"])
        for rule in grafana_rules()
        for query in rule["data"]
        if query["datasourceUid"] != "__expr__"
    ]


def exposed(text: str) -> dict[str, set[str]]:
    """Series names in a Prometheus text exposition (with counter/histogram suffixes), each with
    the label names its samples carry."""
    from prometheus_client.parser import text_string_to_metric_families

    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        suffixes = {
            "counter": ["_total", "_created"],
            "histogram": ["_bucket", "_sum", "_count"],
            "summary": ["_sum", "_count"],
        }.get(family.type, [""])
        for suffix in suffixes:
            names.setdefault(family.name + suffix, set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def recording_rules() -> set[str]:
    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
    return {
        rule["record"] for group in rules["groups"] for rule in group["rules"] if "record" in rule
    }


def test_every_dashboard_is_provisioned_and_uses_the_provisioned_datasource() -> None:
    assert {p.stem for p in DASHBOARDS} == {"p3-api", "p3-cache", "p3-pipeline", "p3-runs"}
    datasource = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        uids.add(dashboard["uid"])
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == datasource["uid"], (path.stem, panel["title"])
            assert panel["targets"], (path.stem, panel["title"])
    assert len(uids) == len(DASHBOARDS)


def test_every_panel_query_parses(promtool: str, tmp_path: Path) -> None:
    # promtool parses each expression as a recording rule: a PromQL syntax error fails the check.
    queries = panel_queries() + [("alerting", uid, expr) for uid, expr in alert_queries()]
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [
                    {"record": f"dashboard:panel_{i}", "expr": expr}
                    for i, (_, _, expr) in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump(rules))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(queries)} rules found" in done.stdout


@pytest.fixture(scope="module")
def known_metrics(
    snapshot: PublishedSnapshot, dbt_manifest: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, set[str]]:
    """Series names (with their label names) the real API and exporter expose, scraped once."""
    folder = tmp_path_factory.mktemp("scrape")
    api_text = scrape_api(snapshot.path, folder)
    exporter_text = scrape_exporter(snapshot.path, folder)
    known = exposed(api_text) | exposed(exporter_text)
    assert "p3_api_requests_total" in known and "p3_pipeline_runs_in_flight" in known
    return known


def unknown_reads(
    queries: list[tuple[str, str]], known: dict[str, set[str]]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per query name: metric names nothing exposes (nor a recording rule, nor Prometheus
    itself), and label names a selector matches that the metric's samples never carry."""
    allowed = set(known) | recording_rules() | PROMETHEUS_OWN
    missing = {}
    wrong_labels = {}
    for name, expr in queries:
        unknown = metric_names(expr) - allowed
        if unknown:
            missing[name] = sorted(unknown)
        for metric, labels in selector_labels(expr).items():
            seen = known.get(metric)
            if seen and labels - seen - {"job", "instance"}:
                wrong_labels[name] = sorted(labels - seen)
    return missing, wrong_labels


@pytest.mark.slow
def test_every_panel_reads_metrics_the_real_exporters_expose(
    known_metrics: dict[str, set[str]],
) -> None:
    queries = [(f"{dashboard}: {title}", expr) for dashboard, title, expr in panel_queries()]
    assert unknown_reads(queries, known_metrics) == ({}, {})


@pytest.mark.slow
def test_every_grafana_alert_rule_reads_metrics_the_real_exporters_expose(
    known_metrics: dict[str, set[str]],
) -> None:
    queries = alert_queries()
    assert len(queries) == len(grafana_rules()) > 0
    assert unknown_reads(queries, known_metrics) == ({}, {})


def test_grafana_alert_rules_are_what_the_prometheus_rules_generate() -> None:
    # One definition: `python deploy/stack.py grafana-alerts > <file>` after editing alerts.yml.
    assert stack.GRAFANA_ALERTS_FILE.read_text() == stack.grafana_alerts_yaml()


def test_every_prometheus_alert_is_a_grafana_rule_with_its_query_delay_and_labels() -> None:
    prometheus = {
        rule["alert"]: rule
        for group in yaml.safe_load(stack.ALERT_RULES_FILE.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    grafana = {rule["title"]: rule for rule in grafana_rules()}
    assert set(grafana) == set(prometheus)
    for name, rule in prometheus.items():
        (query,) = [q for q in grafana[name]["data"] if q["datasourceUid"] != "__expr__"]
        assert query["model"]["expr"] == rule["expr"].strip(), name
        assert grafana[name]["for"] == rule["for"], name
        assert grafana[name]["labels"] == rule["labels"], name
        # Prometheus's $value is Grafana's value of query A.
        for text in grafana[name]["annotations"].values():
            assert "$value " not in text and "$value}" not in text, (name, text)


def test_grafana_alert_rules_follow_the_provisioning_format() -> None:
    document = yaml.safe_load(stack.GRAFANA_ALERTS_FILE.read_text())
    assert document["apiVersion"] == 1
    datasource = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]["uid"]
    uids = [rule["uid"] for rule in grafana_rules()]
    assert len(set(uids)) == len(uids)
    for group in document["groups"]:
        assert {"name", "folder", "interval", "rules"} <= set(group)
        for rule in group["rules"]:
            assert len(rule["uid"]) <= 40 and rule["uid"].replace("-", "").isalnum()
            refs = {query["refId"] for query in rule["data"]}
            assert rule["condition"] in refs
            for query in rule["data"]:
                assert query["model"]["refId"] == query["refId"]
                if query["datasourceUid"] == "__expr__":
                    # Expressions refer only to this rule's queries.
                    assert set(re.findall(r"\$(\w+)", query["model"]["expression"])) <= refs
                else:
                    assert query["datasourceUid"] == datasource
                    assert query["relativeTimeRange"]["from"] > 0
            assert rule["noDataState"] in {"OK", "NoData", "Alerting", "KeepLast"}
            assert rule["execErrState"] in {"OK", "Error", "Alerting", "KeepLast"}


def scrape_api(snapshot: Path, tmp_path: Path) -> str:
    """/metrics of a real ``python -m p3_api`` after traffic that exercises every metric family:
    answers, a cache hit, a refused credential and a rate-limited anonymous client."""
    home = tmp_path / "api"
    _, admin_key = SqliteStore(home / "api" / "keys.sqlite3").create("api_key", "t", Role.admin)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("P3_API_")} | {
        "P3_HOME": str(home),
        "P3_SERVING_DUCKDB_PATH": str(snapshot),
        "P3_API_PORT": str(port),
        "P3_API_WORKERS": "1",
        "P3_API_RATE_ANONYMOUS": "3/minute",
    }
    base = f"http://127.0.0.1:{port}"
    with serving([sys.executable, "-m", "p3_api"], env, f"{base}/healthz", tmp_path / "api.log"):
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.get("/v1/drivers", headers={"X-API-Key": "p3_wrong"}).status_code == 401
            for _ in range(2):
                answer = client.get("/v1/drivers", headers={"X-API-Key": admin_key})
                assert answer.status_code == 200
            statuses = [client.get("/ergast/f1/seasons.json").status_code for _ in range(5)]
            assert 200 in statuses and 429 in statuses
            return client.get("/metrics").text


def scrape_exporter(snapshot: Path, tmp_path: Path) -> str:
    """/metrics of a real ``p3 exporter`` over a Dagster instance, the snapshot and the cache."""
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    env = os.environ | {
        "DAGSTER_HOME": str(dagster_home),
        "P3_SERVING_DUCKDB_PATH": str(snapshot),
        # The check keys come from the definitions, which load the dbt manifest of P3_ENV: the
        # test target's is the one the session prepared (a fresh checkout has no other).
        "P3_ENV": "test",
    }
    p3 = str(Path(sys.executable).parent / "p3")
    url = f"http://127.0.0.1:{port}/metrics"
    argv = [p3, "exporter", "--host", "127.0.0.1", "--port", str(port)]
    with serving(argv, env, url, tmp_path / "exporter.log"):
        text = httpx.get(url, timeout=60).text
    assert 'p3_exporter_source_up{source="snapshot"} 1.0' in text
    assert 'p3_exporter_source_up{source="dagster_assets"} 1.0' in text, text
    return text
