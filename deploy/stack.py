"""The production topology from deploy/services.yaml: docker-compose.yml, or the same services natively.

    python deploy/stack.py compose            print docker-compose.yml (what is committed)
    python deploy/stack.py prometheus-config  print deploy/prometheus/prometheus.yml (compose targets)
    python deploy/stack.py grafana-alerts     print deploy/grafana/provisioning/alerting/p3.yml
    python deploy/stack.py up                 start the services natively (`make stack`)
    python deploy/stack.py down               stop exactly what `up` started (`make stack-down`)
    python deploy/stack.py status             what runs, where

Natively, PostgreSQL and Redis are whatever P3_DATABASE_URL and P3_REDIS_URL point at (they are
checked, not started); every other service runs from the command services.yaml gives it, under
$P3_HOME/stack (pid files, logs, the instance folder, Prometheus's config and data).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

DEPLOY = Path(__file__).resolve().parent
REPO = DEPLOY.parent
SERVICES_FILE = DEPLOY / "services.yaml"
COMPOSE_FILE = REPO / "docker-compose.yml"
PROMETHEUS_DIR = DEPLOY / "prometheus"
ALERT_RULES_FILE = PROMETHEUS_DIR / "alerts.yml"
GRAFANA_ALERTS_FILE = DEPLOY / "grafana" / "provisioning" / "alerting" / "p3.yml"

_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
IMAGE = "p3:latest"
HEALTH_TIMEOUT_S = float(os.environ.get("P3_STACK_HEALTH_TIMEOUT_SECONDS", "240"))
STOP_TIMEOUT_S = 20.0

# Where the compose services find each other, and what the image holds (deploy/Dockerfile).
COMPOSE_PATHS = {
    "DATA": "/data",
    "DEPLOY": "/app/deploy",
    "LOCAL": "/home/p3/local",
    "DAGSTER_HOME": "/opt/dagster/home",
    "PROMETHEUS_CONFIG": "/etc/prometheus/prometheus.yml",
    "PROMETHEUS_DATA": "/prometheus",
    # Compose fills these from .env when it reads the file; no secret is committed.
    "DATABASE_URL": "postgresql://p3:${P3_POSTGRES_PASSWORD}@postgres:5432/dagster",
    "DAGSTER_DATABASE_URL": "postgresql+psycopg2://p3:${P3_POSTGRES_PASSWORD}@postgres:5432/dagster",
    "MLFLOW_DATABASE_URL": "postgresql+psycopg://p3:${P3_POSTGRES_PASSWORD}@postgres:5432/mlflow",
    "REDIS_URL": "redis://redis:6379/0",
    "DAGSTER_UI_URL": "${P3_DAGSTER_UI_URL:-http://127.0.0.1:3000}",
    "API_JWT_SECRET": "${P3_API_JWT_SECRET:?set P3_API_JWT_SECRET in .env}",
}
COMPOSE_VOLUMES = [
    "p3_data",
    "dagster_home",
    "postgres_data",
    "redis_data",
    "prometheus_data",
    "grafana_data",
]
DAGSTER_SERVICES = {"dagster-code", "dagster-webserver", "dagster-daemon", "exporter"}
# Published on the host's loopback: the UIs and the API.
PUBLISHED = {"dagster-webserver", "mlflow", "api", "prometheus", "grafana"}


class StackError(RuntimeError):
    """The stack cannot start or stop; the message says what and where, in one line."""


def load_services(path: Path = SERVICES_FILE) -> dict[str, dict[str, Any]]:
    """The services of ``deploy/services.yaml``, in file order."""
    return yaml.safe_load(path.read_text())["services"]


def var_prefix(service: str) -> str:
    """``dagster-code`` -> ``DAGSTER_CODE`` (its ``<SERVICE>_HOST``/``_PORT`` variables)."""
    return service.upper().replace("-", "_")


def render(value: Any, context: dict[str, str]) -> Any:
    """``value`` with every ``${NAME}`` replaced from ``context``; an unknown name is an error.

    One pass: a replacement is never scanned again, so compose's own ``${P3_...}`` in a value
    (filled by compose from .env) stays as it is.
    """
    if isinstance(value, str):

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in context:
                raise StackError(f"deploy/services.yaml: ${{{name}}} is not a known variable")
            return context[name]

        return _VAR.sub(fill, value)
    if isinstance(value, list):
        return [render(item, context) for item in value]
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    return value


def base_context(
    services: dict[str, dict[str, Any]], hosts: dict[str, str], ports: dict[str, int]
) -> dict[str, str]:
    """``<SERVICE>_HOST`` and ``<SERVICE>_PORT`` of every service with a port."""
    context: dict[str, str] = {}
    for name in services:
        if name in ports:
            context[f"{var_prefix(name)}_HOST"] = hosts[name]
            context[f"{var_prefix(name)}_PORT"] = str(ports[name])
    return context


def service_context(base: dict[str, str], name: str, host: str, port: int | None) -> dict[str, str]:
    """The context one service's command, environment and health check are rendered with."""
    return base | {"HOST": host, "PORT": str(port) if port is not None else ""}


# --- docker-compose.yml ------------------------------------------------------------------------


def compose_context(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Variables of the compose target: services reach each other by name on their own port."""
    ports = {name: spec["port"] for name, spec in services.items() if "port" in spec}
    return base_context(services, {name: name for name in ports}, ports) | COMPOSE_PATHS


def compose_command(services: dict[str, dict[str, Any]], name: str) -> list[str] | None:
    """The command compose runs for ``name`` (None: the image's own), from services.yaml."""
    spec = services[name]
    if "command" not in spec:
        return spec.get("compose", {}).get("command")
    context = service_context(compose_context(services), name, "0.0.0.0", spec.get("port"))
    return render(spec["command"], context)


def _compose_health(spec: dict[str, Any], context: dict[str, str], own_image: bool) -> list[str]:
    health = render(spec["health"], context)
    if "command" in health:
        return ["CMD", *health["command"]]
    url = f"http://127.0.0.1:{context['PORT']}{health['http']}"
    if own_image:  # the P3 image has Python, not curl or wget
        probe = f"import urllib.request; urllib.request.urlopen({url!r}, timeout=5)"
        return ["CMD", "python", "-c", probe]
    return ["CMD", "wget", "-q", "-O", "/dev/null", url]


def compose_document(services: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """docker-compose.yml as a mapping: every service of services.yaml, with its command,
    environment, health check, dependencies and volumes."""
    services = services or load_services()
    shared = compose_context(services)
    out: dict[str, Any] = {}
    for name, spec in services.items():
        extra = dict(spec.get("compose", {}))
        own_image = "image" not in extra
        context = service_context(shared, name, "0.0.0.0", spec.get("port"))
        health_context = service_context(shared, name, "127.0.0.1", spec.get("port"))
        service: dict[str, Any] = {}
        if own_image:
            service["image"] = IMAGE
            service["build"] = {"context": ".", "dockerfile": "deploy/Dockerfile"}
        service |= extra
        if "command" in spec:
            service["command"] = render(spec["command"], context)
        if "environment" in spec:
            service["environment"] = render(spec["environment"], context)
        if own_image:
            volumes = ["p3_data:/data:ro" if name == "api" else "p3_data:/data"]
            if name in DAGSTER_SERVICES:
                volumes.append("dagster_home:/opt/dagster/home")
            service["volumes"] = volumes
        if spec.get("depends_on"):
            service["depends_on"] = {
                dep: {"condition": "service_healthy"} for dep in spec["depends_on"]
            }
        service["healthcheck"] = {
            "test": _compose_health(spec, health_context, own_image),
            "interval": "15s",
            "timeout": "10s",
            "retries": 10,
            "start_period": "60s",
        }
        if name in PUBLISHED and "port" in spec:
            port = spec["port"]
            replicas = spec.get("replicas", 1)
            host_ports = f"{port}-{port + replicas - 1}" if replicas > 1 else str(port)
            service["ports"] = [f"127.0.0.1:{host_ports}:{port}"]
        if spec.get("replicas", 1) > 1:
            service["deploy"] = {"replicas": spec["replicas"]}
        service["restart"] = "unless-stopped"
        out[name] = service
    return {"name": "p3", "services": out, "volumes": {volume: {} for volume in COMPOSE_VOLUMES}}


COMPOSE_HEADER = (
    "# GENERATED from deploy/services.yaml by `python deploy/stack.py compose`; do not edit.\n"
    "# The production topology. `make stack` runs the same commands natively.\n"
    "# Secrets come from .env (see .env.example): P3_POSTGRES_PASSWORD, P3_API_JWT_SECRET,\n"
    "# P3_GRAFANA_ADMIN_PASSWORD.\n"
)


class _Dumper(yaml.SafeDumper):
    """Short lists of scalars on one line (commands, health checks), everything else in blocks."""


def _represent_list(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.Node:
    flow = all(isinstance(item, (str, int)) for item in items) and len(str(items)) < 90
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def dump(document: dict[str, Any]) -> str:
    """YAML text of ``document``, keys in their order."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100)


def compose_yaml() -> str:
    """The text of docker-compose.yml."""
    return COMPOSE_HEADER + dump(compose_document())


# --- prometheus.yml ----------------------------------------------------------------------------


def prometheus_document(
    targets: dict[str, list[str]] | None, *, interval: str = "15s"
) -> dict[str, Any]:
    """prometheus.yml: every service with ``metrics`` is a scrape job. ``targets`` (job -> host:port
    list) are the native addresses; None = compose, where replicas are found by DNS."""
    services = load_services()
    jobs = []
    for name, spec in services.items():
        if "metrics" not in spec:
            continue
        job: dict[str, Any] = {"job_name": name, "metrics_path": spec["metrics"]}
        if targets is not None:
            job["static_configs"] = [{"targets": targets.get(name, [])}]
        elif spec.get("replicas", 1) > 1:
            job["dns_sd_configs"] = [{"names": [name], "type": "A", "port": spec["port"]}]
        else:
            job["static_configs"] = [{"targets": [f"{name}:{spec['port']}"]}]
        jobs.append(job)
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": ["alerts.yml"],
        "scrape_configs": jobs,
    }


PROMETHEUS_HEADER = (
    "# GENERATED from deploy/services.yaml by `python deploy/stack.py prometheus-config`.\n"
    "# Compose targets; `make stack` writes the same jobs with its own addresses.\n"
)


def prometheus_yaml(targets: dict[str, list[str]] | None = None, *, interval: str = "15s") -> str:
    """The text of prometheus.yml for compose (``targets`` None) or native addresses."""
    document = prometheus_document(targets, interval=interval)
    return PROMETHEUS_HEADER + dump(document)


# --- Grafana alert rules ------------------------------------------------------------------------

# deploy/grafana/provisioning/datasources/prometheus.yml's uid; the folder of the dashboards.
GRAFANA_DATASOURCE_UID = "prometheus"
GRAFANA_FOLDER = "P3"
# Grafana evaluates rule groups on multiples of its 10 s base interval.
GRAFANA_INTERVAL = "1m"
_PROM_VALUE = re.compile(r"\$value\b")


def grafana_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """One Prometheus alerting rule as a Grafana-managed rule: query A is the rule's expression
    (series present = firing, as in Prometheus), B is 1 for each of its series and is the
    condition; ``$value`` in templates becomes A's value."""

    def template(text: str) -> str:
        return _PROM_VALUE.sub("$values.A.Value", text)

    return {
        "uid": rule["alert"],
        "title": rule["alert"],
        "condition": "B",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": 600, "to": 0},
                "datasourceUid": GRAFANA_DATASOURCE_UID,
                "model": {
                    "refId": "A",
                    "expr": rule["expr"].strip(),
                    "instant": True,
                    "range": False,
                    "intervalMs": 15000,
                    "maxDataPoints": 43200,
                },
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "B",
                    "type": "math",
                    "expression": "$A == $A",
                    "datasource": {"type": "__expr__", "uid": "__expr__"},
                },
            },
        ],
        # No series is the healthy state of every rule (the expression filters to the bad ones).
        "noDataState": "OK",
        "execErrState": "Error",
        "for": rule.get("for", "0s"),
        "labels": dict(rule.get("labels", {})),
        "annotations": {key: template(value) for key, value in rule.get("annotations", {}).items()},
    }


def grafana_alerts_document(rules_file: Path = ALERT_RULES_FILE) -> dict[str, Any]:
    """Grafana's alerting provisioning file: every alerting rule of ``rules_file``, one rule
    group per Prometheus group (recording rules stay with Prometheus, which the queries read)."""
    groups = []
    for group in yaml.safe_load(rules_file.read_text())["groups"]:
        rules = [grafana_rule(rule) for rule in group["rules"] if "alert" in rule]
        if rules:
            groups.append(
                {
                    "orgId": 1,
                    "name": group["name"],
                    "folder": GRAFANA_FOLDER,
                    "interval": GRAFANA_INTERVAL,
                    "rules": rules,
                }
            )
    return {"apiVersion": 1, "groups": groups}


GRAFANA_ALERTS_HEADER = (
    "# GENERATED from deploy/prometheus/alerts.yml by `python deploy/stack.py grafana-alerts`;\n"
    "# do not edit. Grafana-managed copies of the Prometheus alerting rules (Grafana notifies\n"
    "# through its contact points; Prometheus, which has no Alertmanager here, only evaluates).\n"
)


def grafana_alerts_yaml() -> str:
    """The text of deploy/grafana/provisioning/alerting/p3.yml."""
    return GRAFANA_ALERTS_HEADER + dump(grafana_alerts_document())


# --- the native runner -------------------------------------------------------------------------


@dataclass
class Process:
    """One native process of a service (a service with replicas has several)."""

    name: str
    service: str
    argv: list[str]
    env: dict[str, str]
    port: int | None
    health: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)


def free_port(preferred: int | None = None) -> int:
    """``preferred`` when nothing listens on it, else a free loopback port."""
    candidates = [preferred] if preferred else []
    for port in [*candidates, 0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise StackError("no free loopback port")


def native_order(services: dict[str, dict[str, Any]]) -> list[str]:
    """Services ``make stack`` starts, dependencies first."""
    runnable = [
        n for n, s in services.items() if s.get("native") not in ("external", "unavailable")
    ]
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order or name not in runnable:
            return
        for dep in services[name].get("depends_on", []):
            visit(dep)
        order.append(name)

    for name in runnable:
        visit(name)
    return order


def with_driver(url: str, driver: str) -> str:
    """``postgresql://...`` as ``postgresql+<driver>://...`` (SQLAlchemy's driver selection)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=f"{parts.scheme.split('+')[0]}+{driver}"))


def mlflow_database_url(database_url: str) -> str:
    """P3_MLFLOW_DATABASE_URL's default: database ``<db>_mlflow`` on the same server, psycopg 3."""
    parts = urlsplit(with_driver(database_url, "psycopg"))
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_mlflow"))


def native_context(
    env: dict[str, str], home: Path, services: dict[str, dict[str, Any]], ports: dict[str, int]
) -> dict[str, str]:
    """Variables of the native target: loopback addresses and folders under ``home``."""
    database_url = env["P3_DATABASE_URL"]
    stack = home / "stack"
    db = urlsplit(database_url)
    redis_url = env.get("P3_REDIS_URL") or "redis://127.0.0.1:6379/0"
    rd = urlsplit(redis_url)
    external = {"postgres": (db.hostname or "127.0.0.1", db.port or 5432)}
    external["redis"] = (rd.hostname or "127.0.0.1", rd.port or 6379)
    hosts = {name: "127.0.0.1" for name in ports} | {k: h for k, (h, _) in external.items()}
    all_ports = ports | {k: p for k, (_, p) in external.items()}
    return base_context(services, hosts, all_ports) | {
        "DATA": str(home),
        "DEPLOY": str(DEPLOY),
        "DAGSTER_HOME": str(stack / "dagster"),
        "PROMETHEUS_CONFIG": str(stack / "prometheus" / "prometheus.yml"),
        "PROMETHEUS_DATA": str(stack / "prometheus" / "data"),
        "DATABASE_URL": database_url,
        "DAGSTER_DATABASE_URL": with_driver(database_url, "psycopg2"),
        "MLFLOW_DATABASE_URL": env.get("P3_MLFLOW_DATABASE_URL")
        or mlflow_database_url(database_url),
        "REDIS_URL": redis_url,
        "DAGSTER_UI_URL": f"http://127.0.0.1:{ports['dagster-webserver']}",
        "API_JWT_SECRET": env.get("P3_API_JWT_SECRET") or _jwt_secret(stack),
    }


def _jwt_secret(stack: Path) -> str:
    # Every replica must sign and check tokens with one key; made once, kept private.
    path = stack / "jwt_secret"
    if not path.exists():
        stack.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def native_plan(env: dict[str, str], home: Path) -> tuple[list[Process], dict[str, str]]:
    """Every native process with its command and environment, and the shared context."""
    services = load_services()
    order = native_order(services)
    ports: dict[tuple[str, int], int] = {}
    for name in order:
        spec = services[name]
        if "port" not in spec:
            continue
        # The compose port when it is free (or P3_STACK_<SERVICE>_PORT); P3_STACK_PORTS=free
        # takes any free port (tests, a second stack beside a first).
        base = int(env.get(f"P3_STACK_{var_prefix(name)}_PORT", spec["port"]))
        for replica in range(1, spec.get("replicas", 1) + 1):
            wanted = None if env.get("P3_STACK_PORTS") == "free" else base + replica - 1
            port = free_port(wanted)
            while port in ports.values():
                port = free_port()
            ports[(name, replica)] = port
    first = {name: port for (name, replica), port in ports.items() if replica == 1}
    context = native_context(env, home, services, first)
    processes = []
    for name in order:
        spec = services[name]
        replicas = spec.get("replicas", 1)
        for replica in range(1, replicas + 1):
            pname = f"{name}-{replica}" if replicas > 1 else name
            own_port = ports.get((name, replica))
            ctx = service_context(context, name, "127.0.0.1", own_port)
            ctx["LOCAL"] = str(home / "stack" / pname)
            processes.append(
                Process(
                    name=pname,
                    service=name,
                    argv=render(spec["command"], ctx),
                    env=render(spec.get("environment", {}), ctx),
                    port=own_port,
                    health=render(spec["health"], ctx),
                    depends_on=list(spec.get("depends_on", [])),
                )
            )
    return processes, context


def executable(name: str) -> str:
    """The venv's own tools first (mlflow, dagster, p3, python), then PATH (prometheus)."""
    if name == "python":
        return sys.executable
    venv = Path(sys.executable).parent / name
    if venv.exists():
        return str(venv)
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} is not installed (Debian: apt-get install {name})")
    return found


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/pid/stat); None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


class NativeStack:
    """The processes `make stack` starts, with their pid files under ``$P3_HOME/stack/pids``."""

    def __init__(
        self,
        home: Path,
        env: dict[str, str] | None = None,
        instance_config: Path = DEPLOY / "dagster.yaml",
    ) -> None:
        self.home = home
        self.env = dict(os.environ if env is None else env)
        self.dir = home / "stack"
        self.pids = self.dir / "pids"
        self.logs = self.dir / "logs"
        # The production instance; fault tests pass a copy with shorter monitoring intervals.
        self.instance_config = instance_config
        self.processes: dict[str, Process] = {}

    # -- up --

    def preflight(self) -> None:
        """PostgreSQL and Redis answer (one line naming the variable otherwise); MLflow's
        database exists."""
        from p3_dagster.doctor import check_postgres, check_redis

        checks = [check_postgres(self.env.get("P3_DATABASE_URL"))]
        checks.append(check_redis(self.env.get("P3_REDIS_URL") or "redis://127.0.0.1:6379/0"))
        for check in checks:
            if not check.ok:
                raise StackError(f"{check.name}: {check.detail}; {check.fix}")
        mlflow_url = self.env.get("P3_MLFLOW_DATABASE_URL") or mlflow_database_url(
            self.env["P3_DATABASE_URL"]
        )
        ensure_database(mlflow_url)

    def up(self, say: Any = print, only: set[str] | None = None) -> dict[str, Any]:
        """Start every service (or the services in ``only``), each after its dependencies answer
        their health check."""
        running = self.running()
        if running:
            raise StackError(
                f"already running under {self.dir}: {', '.join(running)}; `make stack-down` first"
            )
        self.preflight()
        processes, context = native_plan(self.env, self.home)
        if only is not None:
            processes = [p for p in processes if p.service in only]
        for path in (self.pids, self.logs, Path(context["DAGSTER_HOME"])):
            path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.instance_config, Path(context["DAGSTER_HOME"]) / "dagster.yaml")
        self._write_prometheus(processes, Path(context["PROMETHEUS_CONFIG"]))
        self._prepare_manifest(processes)
        started: list[Process] = []
        try:
            for process in processes:
                say(f"starting {process.name}" + (f" on :{process.port}" if process.port else ""))
                self._start(process)
                started.append(process)
                self.processes[process.name] = process
                self._wait_healthy(process)
        except BaseException:
            self.down(say=lambda _: None)
            raise
        info = {
            p.name: {"service": p.service, "port": p.port, "url": self._url(p)} for p in started
        }
        # DAGSTER_HOME lets `dagster` commands reach the stack's instance.
        info["_instance"] = {"DAGSTER_HOME": context["DAGSTER_HOME"]}
        (self.dir / "stack.json").write_text(json.dumps(info, indent=2))
        return info

    def restart(self, name: str, say: Any = print) -> None:
        """Start process ``name`` of this ``up`` again, with the same command and port, once it
        is gone (stopped, killed or crashed)."""
        process = self.processes[name]
        if self._alive(name):
            raise StackError(f"{name} is still running; stop it first")
        say(f"restarting {name}" + (f" on :{process.port}" if process.port else ""))
        self._start(process)
        self._wait_healthy(process)

    def pid(self, name: str) -> int | None:
        """The pid of process ``name`` while it runs (it leads its own process group)."""
        entry = self._read_pid(name)
        return entry[0] if entry is not None and self._alive(name) else None

    def _url(self, process: Process) -> str | None:
        return f"http://127.0.0.1:{process.port}" if process.port else None

    def _write_prometheus(self, processes: list[Process], config: Path) -> None:
        targets: dict[str, list[str]] = {}
        for process in processes:
            if process.port is not None:
                targets.setdefault(process.service, []).append(f"127.0.0.1:{process.port}")
        config.parent.mkdir(parents=True, exist_ok=True)
        interval = self.env.get("P3_STACK_SCRAPE_INTERVAL", "15s")
        config.write_text(prometheus_yaml(targets, interval=interval))
        shutil.copyfile(PROMETHEUS_DIR / "alerts.yml", config.parent / "alerts.yml")

    def _prepare_manifest(self, processes: list[Process]) -> None:
        # The image packages the manifest at build time; a checkout parses it once here.
        code = next((p for p in processes if p.service == "dagster-code"), None)
        if code is None:
            return
        done = subprocess.run(
            [executable("p3"), "dbt-manifest"],
            env=self.env | code.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"dbt parse failed: {done.stderr.strip().splitlines()[-1:]}")

    def _start(self, process: Process) -> None:
        if process.service == "api":
            Path(process.env["P3_HOME"]).mkdir(parents=True, exist_ok=True)
        argv = [executable(process.argv[0]), *process.argv[1:]]
        log = (self.logs / f"{process.name}.log").open("ab")
        child = subprocess.Popen(
            argv,
            env=self.env | process.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
            # Its own process group: `down` stops it with its children (workers, run processes).
            start_new_session=True,
        )
        log.close()
        start = process_start_time(child.pid) or ""
        (self.pids / f"{process.name}.pid").write_text(f"{child.pid} {start}\n")

    def _healthy(self, process: Process) -> bool:
        health = process.health
        if "http" in health:
            url = f"http://127.0.0.1:{process.port}{health['http']}"
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    return 200 <= response.status < 400
            except (urllib.error.URLError, OSError):
                return False
        argv = [executable(health["command"][0]), *health["command"][1:]]
        done = subprocess.run(
            argv, env=self.env | process.env, capture_output=True, timeout=60, check=False
        )
        return done.returncode == 0

    def _wait_healthy(self, process: Process) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self._alive(process.name):
                raise StackError(f"{process.name} exited: {self._log_tail(process.name)}")
            if self._healthy(process):
                return
            time.sleep(1.0)
        raise StackError(
            f"{process.name} not healthy after {HEALTH_TIMEOUT_S:.0f}s: {self._log_tail(process.name)}"
        )

    def _log_tail(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        return f"see {path}" + (f" ({lines[-1].strip()})" if lines else "")

    # -- down --

    def _read_pid(self, name: str) -> tuple[int, str] | None:
        path = self.pids / f"{name}.pid"
        try:
            pid, start = (path.read_text().split() + [""])[:2]
        except OSError:
            return None
        return int(pid), start

    def _alive(self, name: str) -> bool:
        entry = self._read_pid(name)
        if entry is None:
            return False
        pid, start = entry
        # The same process, not a later one that reused its pid.
        return process_start_time(pid) == start and not _is_zombie(pid)

    def running(self) -> list[str]:
        """Names of the started processes that still run."""
        if not self.pids.exists():
            return []
        return sorted(p.stem for p in self.pids.glob("*.pid") if self._alive(p.stem))

    def down(self, say: Any = print) -> list[str]:
        """Stop every process ``up`` started (newest first) and its process group; nothing else."""
        if not self.pids.exists():
            return []
        files = sorted(self.pids.glob("*.pid"), key=lambda p: p.stat().st_mtime, reverse=True)
        stopped = []
        for path in files:
            name = path.stem
            if self._alive(name):
                pid, _ = self._read_pid(name) or (0, "")
                say(f"stopping {name} (pid {pid})")
                _stop_group(pid)
                stopped.append(name)
            path.unlink(missing_ok=True)
        return stopped


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _stop_group(pid: int) -> None:
    """TERM the process group ``pid`` leads; KILL what is left after STOP_TIMEOUT_S."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)  # reap it when it is our child (tests)
        except ChildProcessError:
            pass
        if _is_zombie(pid) or not _group_alive(pid):
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def ensure_database(url: str) -> None:
    """Create the database ``url`` names when the server does not have it yet."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "compose":
        sys.stdout.write(compose_yaml())
        return 0
    if command == "prometheus-config":
        sys.stdout.write(prometheus_yaml())
        return 0
    if command == "grafana-alerts":
        sys.stdout.write(grafana_alerts_yaml())
        return 0
    try:
        from p3_common.settings import SettingsError, load_settings

        stack = NativeStack(load_settings().home)
        if command == "up":
            info = stack.up()
            for name, entry in info.items():
                if not name.startswith("_") and entry["url"]:
                    print(f"  {name:<18} {entry['url']}")
            print(f"logs and pid files under {stack.dir}; stop with `make stack-down`")
        elif command == "down":
            stopped = stack.down()
            print(f"stopped {len(stopped)} processes" if stopped else "nothing was running")
        elif command == "status":
            running = stack.running()
            print("running: " + (", ".join(running) if running else "nothing"))
        else:
            print(
                f"unknown command {command!r}; use compose, prometheus-config, grafana-alerts, up, down, status"
            )
            return 2
    except (StackError, SettingsError) as exc:
        print(f"p3 stack: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
