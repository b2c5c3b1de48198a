# P3 — two commands: `make run` (install + materialise everything) and `make test` (install + test).
PYTHON ?= python3.11
UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin

# dbt and dagster must find each other's executables in the venv.
export PATH := $(BIN):$(PATH)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: install manifest run dev api mlflow test test-fast bench bench-pipeline lint typecheck fmt clean stack stack-down compose live-demo

install: $(VENV)/.installed  ## Create .venv and install the locked dependencies (uv, bytecode compiled)

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	# --compile-bytecode: this machine sets PYTHONDONTWRITEBYTECODE, and imports would cost ~3x without .pyc.
	$(UV) sync --frozen --all-extras --python $(PYTHON) --compile-bytecode
	@touch $@

manifest: install  ## Parse the dbt project into dbt_project/target/<P3_ENV>/manifest.json if it changed (Dagster loads it)
	$(BIN)/p3 dbt-manifest

run: install  ## Materialise every asset on the configured source (default: the synthetic demo)
	$(BIN)/p3 materialize

DEV_PORT ?= 3000

# `dg dev` (what Dagster 1.13 recommends over `dagster dev`) loads the [tool.dg] project: code location
# "p3" from p3_dagster.definitions, as workspace.yaml does. `env --default-signal` undoes the ignored
# SIGINT/SIGQUIT that background jobs inherit, so Ctrl-C or a TERM to the group stops every process.
# DAGSTER_EVENT_BATCH_SIZE: the runs the UI and the daemon launch write their planned events and
# per-partition materialisations in batches, as `p3 materialize`'s do (lib/instance_storage.py).
dev: manifest  ## Open the Dagster UI on http://127.0.0.1:3000 (instance under $P3_HOME/dagster)
	DAGSTER_HOME="$$($(BIN)/p3 dagster-home)" P3_DAGSTER_UI_URL="$${P3_DAGSTER_UI_URL:-http://127.0.0.1:$(DEV_PORT)}" \
		DAGSTER_EVENT_BATCH_SIZE="$${DAGSTER_EVENT_BATCH_SIZE:-1000}" \
		exec env --default-signal=INT,QUIT \
		$(BIN)/dg dev --use-active-venv -h 127.0.0.1 -p $(DEV_PORT)

api: install  ## Serve the API on http://127.0.0.1:8000 (P3_API_HOST/PORT/WORKERS; after `make run`)
	exec $(BIN)/python -m p3_api

MLFLOW_STORE = $(BIN)/python -c 'from p3_common.settings import get_settings as g; s = g(); (s.home / "mlflow").mkdir(parents=True, exist_ok=True); print(s.mlflow_tracking_uri, s.mlflow_artifacts_dir.as_uri())'

mlflow: install  ## MLflow UI on the local store at http://127.0.0.1:5000 (runs, plots, the registered champion)
	set -- $$($(MLFLOW_STORE)) && MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui \
		--backend-store-uri "$$1" --default-artifact-root "$$2" --host 127.0.0.1 --port $${MLFLOW_PORT:-5000} --workers 1

# The production topology natively (deploy/services.yaml): PostgreSQL and Redis are P3_DATABASE_URL
# and P3_REDIS_URL (checked, not started); MLflow, the code server, webserver, daemon, two API
# processes, the exporter and Prometheus start under $P3_HOME/stack.
stack: install  ## Start the production services natively (needs P3_DATABASE_URL; stop with make stack-down)
	$(BIN)/python deploy/stack.py up

stack-down:  ## Stop exactly the processes `make stack` started (pid files under $P3_HOME/stack)
	$(BIN)/python deploy/stack.py down

compose: install  ## Regenerate docker-compose.yml, Prometheus' scrape config and Grafana's alert rules from deploy/
	$(BIN)/python deploy/stack.py compose > docker-compose.yml
	$(BIN)/python deploy/stack.py prometheus-config > deploy/prometheus/prometheus.yml
	$(BIN)/python deploy/stack.py grafana-alerts > deploy/grafana/provisioning/alerting/p3.yml

test: install  ## Run the whole test suite
	$(BIN)/pytest

test-fast: install  ## Tests without the slow full-materialisation and real-data cases
	$(BIN)/pytest -m "not slow"

bench: install  ## Ingest benchmark on the real data (needs P3_ERGAST_DIR or ../shared/data/ergast)
	$(BIN)/python bench/ingest.py

BENCH_BASELINE ?=
bench-pipeline: install  ## Whole graph cold + one new race on the real data (BENCH_BASELINE=<git rev> to compare)
	$(BIN)/python bench/pipeline.py $(if $(BENCH_BASELINE),--baseline $(BENCH_BASELINE))

LIVE_SEASON ?= 2019
LIVE_ROUND ?= 20
LIVE_SPEED ?= 60

live-demo: install  ## Replay a race into Redis with a processor beside it (needs P3_REDIS_URL; after `make run` on real data)
	$(BIN)/p3 live process --season $(LIVE_SEASON) --round $(LIVE_ROUND) --until-finished & \
	$(BIN)/p3 live replay $(LIVE_SEASON) $(LIVE_ROUND) --speed $(LIVE_SPEED); wait

lint: install  ## ruff: lint rules and formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install  ## mypy on the plain packages (p3_common, p3_ingest, p3_query, ml; see [tool.mypy])
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .uv .pytest_cache .ruff_cache
