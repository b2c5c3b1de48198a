"""docker-compose.yml, the Dockerfile and the native runner come from one definition (services.yaml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy import stack

REPO = Path(__file__).resolve().parents[2]


def compose_file() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_docker_compose_yml_is_what_services_yaml_generates() -> None:
    # `python deploy/stack.py compose > docker-compose.yml` after editing services.yaml.
    assert (REPO / "docker-compose.yml").read_text() == stack.compose_yaml()


def test_prometheus_yml_is_what_services_yaml_generates() -> None:
    assert (REPO / "deploy/prometheus/prometheus.yml").read_text() == stack.prometheus_yaml()


def test_every_compose_command_is_the_native_command_rendered_for_compose() -> None:
    services = stack.load_services()
    composed = compose_file()["services"]
    assert set(composed) == set(services)
    for name, spec in services.items():
        if "command" not in spec:
            continue
        native = stack.render(
            spec["command"],
            stack.service_context(
                stack.compose_context(services), name, "0.0.0.0", spec.get("port")
            ),
        )
        assert composed[name]["command"] == native, name


def test_native_plan_runs_the_same_programs_with_loopback_addresses(tmp_path: Path) -> None:
    env = {"P3_DATABASE_URL": "postgresql://p3@127.0.0.1:5432/p3", "P3_API_JWT_SECRET": "x" * 40}
    processes, context = stack.native_plan(env, tmp_path)
    composed = compose_file()["services"]
    by_service = {p.service: p for p in processes}
    # Everything compose builds from the P3 image runs natively, except nothing; images of
    # external systems (PostgreSQL, Redis, Grafana) do not, and Prometheus is the Debian binary.
    assert set(by_service) == {
        "mlflow", "dagster-code", "dagster-webserver", "dagster-daemon", "api", "exporter", "prometheus"
    }  # fmt: skip
    assert [p.name for p in processes if p.service == "api"] == ["api-1", "api-2"]
    for process in processes:
        compose_argv = composed[process.service]["command"]
        assert process.argv[0] == compose_argv[0], process.name
        assert len(process.argv) == len(compose_argv), process.name
        # Only addresses and paths differ, never a flag.
        for native_arg, compose_arg in zip(process.argv, compose_argv, strict=True):
            if native_arg.startswith("-") or compose_arg.startswith("-"):
                assert native_arg.split("=")[0] == compose_arg.split("=")[0], process.name
        if process.port is not None:
            assert str(process.port) in " ".join(process.argv) + " ".join(process.env.values())
    # The two API replicas listen on different ports and keep separate metrics folders.
    api_1, api_2 = (p for p in processes if p.service == "api")
    assert api_1.port != api_2.port
    assert api_1.env["P3_HOME"] != api_2.env["P3_HOME"]
    assert api_1.env["P3_SERVING_DUCKDB_PATH"] == str(tmp_path / "serving.duckdb")
    # The webserver and daemon reach the code server where the plan put it.
    code = by_service["dagster-code"]
    assert by_service["dagster-daemon"].env["P3_CODE_SERVER_PORT"] == str(code.port)
    assert context["MLFLOW_DATABASE_URL"] == "postgresql+psycopg://p3@127.0.0.1:5432/p3_mlflow"
    assert code.env["P3_DAGSTER_DATABASE_URL"] == "postgresql+psycopg2://p3@127.0.0.1:5432/p3"


def test_dependencies_start_first() -> None:
    order = stack.native_order(stack.load_services())
    assert order.index("dagster-code") < order.index("dagster-webserver")
    assert order.index("mlflow") < order.index("dagster-code")
    assert order.index("api") < order.index("prometheus")
    assert "postgres" not in order and "grafana" not in order


def test_every_service_has_a_healthcheck_and_healthy_dependencies() -> None:
    composed = compose_file()
    for name, service in composed["services"].items():
        assert service["healthcheck"]["test"][0] == "CMD", name
        for dep, condition in service.get("depends_on", {}).items():
            assert dep in composed["services"], (name, dep)
            assert condition == {"condition": "service_healthy"}
    assert composed["services"]["api"]["deploy"]["replicas"] >= 2
    # Data lives in named volumes; the API mounts the snapshot volume read-only.
    for volume in ("p3_data", "dagster_home", "postgres_data"):
        assert volume in composed["volumes"]
    assert "p3_data:/data:ro" in composed["services"]["api"]["volumes"]


def test_no_secret_is_committed_in_the_compose_file() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    assert "${P3_POSTGRES_PASSWORD}" in text
    assert "${P3_API_JWT_SECRET:?" in text
    assert "password=" not in text.lower()


def test_an_unknown_variable_in_services_yaml_is_an_error() -> None:
    with pytest.raises(stack.StackError, match=r"\$\{NOPE\} is not a known variable"):
        stack.render(["--x", "${NOPE}"], {"HOST": "h"})


def test_the_dockerfile_builds_with_uv_from_the_lock_without_dev_dependencies() -> None:
    text = (REPO / "deploy/Dockerfile").read_text()
    syncs = [line for line in text.splitlines() if "uv sync" in line]
    assert syncs and all("--frozen" in line and "--no-dev" in line for line in syncs)
    assert "prepare-and-package --file deploy/dbt_package.py" in text
    assert "\nUSER p3\n" in text
    makefile_uv = next(
        line.split(":=")[1].strip()
        for line in (REPO / "Makefile").read_text().splitlines()
        if line.startswith("UV_VERSION")
    )
    assert f"ghcr.io/astral-sh/uv:{makefile_uv}" in text


def test_the_packaged_dbt_project_file_holds_the_prod_project() -> None:
    import runpy

    namespace = runpy.run_path(str(REPO / "deploy/dbt_package.py"))
    assert namespace["prod_project"].target == "prod"


@pytest.mark.skipif(shutil.which("docker") is None, reason="docker client not installed")
def test_docker_compose_accepts_the_file() -> None:
    docker = str(shutil.which("docker"))
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    env = {
        "P3_POSTGRES_PASSWORD": "p",
        "P3_API_JWT_SECRET": "s" * 40,
        "P3_GRAFANA_ADMIN_PASSWORD": "g",
    }
    done = subprocess.run(
        [docker, "compose", "-f", str(REPO / "docker-compose.yml"), "config", "--quiet"],
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(REPO), **env},
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
