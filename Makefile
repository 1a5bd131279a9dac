# The command vocabulary: people, git hooks and CI all run these same targets.
# `make help` lists them.

# The project's Python, declared once: .python-version (CI's setup-python and the image read it).
PYTHON_VERSION := $(strip $(file < .python-version))
PYTHON ?= python$(PYTHON_VERSION)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Orchestrator workers run targets with `STAMP=` (empty): their environment is built ahead (their
# image, or `make install` once) and must never be rebuilt under a running task.
STAMP := $(VENV)/.installed
BASE ?= main
# The raw table's path, read from its one home, the data contract (only by recipes that use it).
DATA = $(shell $(firstword $(wildcard $(BIN)/python) python3) -c \
  'import yaml; print(yaml.safe_load(open("contract.yaml"))["data"]["path"])')
# Every recipe finds the venv's tools (churn, dvc, pytest, ...) first (Airflow's recipes excepted).
SYSTEM_PATH := $(PATH)
export PATH := $(BIN):$(PATH)
# Two OpenMP threads double the CPU per request for no extra throughput on small machines.
export OMP_NUM_THREADS ?= 1

.DEFAULT_GOAL := help
# Nested makes (a workflow step run by a test run by `make test`) must not print "Entering
# directory" lines into output that CI parses.
MAKEFLAGS += --no-print-directory
.PHONY: help install run data repro metrics test test-unit coverage lint lock clean rename report score wheel \
	serve bench bench-serve bench-score bench-report bench-scale image current-model notebook mlflow \
	spark-env
# Where `make score` writes the served-as-data store, and what it scores (Airflow's daily
# re-score sets both).
SCORES ?= scores/scores.sqlite
SCORE_INPUT ?= $(DATA)

# Colour only on a terminal: piped into a file or a pager, `make help` is plain text.
help: ## List the targets
	@if [ -t 1 ]; then on='\033[36m'; off='\033[0m'; else on=''; off=''; fi; \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / \
	  {printf "  %s%-18s%s %s\n", on, $$1, off, $$2}' $(MAKEFILE_LIST)

# Bytecode compiled at install: with PYTHONDONTWRITEBYTECODE set (as on this machine) every
# process would otherwise recompile what it imports. The workflow tests turn it off (17 s of
# each act run) and let Python write bytecode as it goes.
INSTALL_BYTECODE ?= --compile-bytecode
# Where the tests, the engines and their environments run, Python writes the bytecode of what
# it imports even where PYTHONDONTWRITEBYTECODE is set: pytest keeps each test module and
# plugin it rewrites for its assertions as bytecode, and without it every pytest process (the
# workers, the nested suites) rewrote some 450 modules again, 1.5-2.8 s of CPU apiece.
WRITE_BYTECODE := PYTHONDONTWRITEBYTECODE=
# The environments have no pip of their own (its bundled copy costs 5 s of CPU per environment,
# on every CI job): the interpreter's own pip installs uv into them, and uv does the rest. The
# interpreter is looked up on the system PATH: recipes put the venv's first.
HOST_PYTHON = PATH='$(SYSTEM_PATH)' $(PYTHON)
NEW_VENV = $(HOST_PYTHON) -m venv --without-pip
HOST_PIP = $(HOST_PYTHON) -m pip
$(STAMP): requirements/bootstrap.txt requirements/dev.txt pyproject.toml
	@test -x $(VENV)/bin/python || $(NEW_VENV) $(VENV)
	$(HOST_PIP) --python $(VENV)/bin/python install --quiet --require-hashes --no-deps \
	  -r requirements/bootstrap.txt
	$(BIN)/uv pip sync --quiet --python $(VENV)/bin/python --require-hashes $(INSTALL_BYTECODE) \
	  requirements/dev.txt
	$(BIN)/uv pip install --quiet --python $(VENV)/bin/python --no-build-isolation --no-deps -e .
	@touch $@

install: $(STAMP) ## Create or refresh .venv from the locked requirements; install the git hooks
	@test ! -d .git || $(BIN)/pre-commit install --install-hooks >/dev/null

# PySpark (~400 MB, and Java 17 to run) lives in its own environment: only the Spark engine, its
# tests and bench-scale need it. The driver and the Spark workers' Python both run from it.
# The engines' environments are installed without bytecode: compiling every file of Airflow and
# PySpark took 23 s of a fresh clone's `make test-engines`, for the quarter (PySpark's) to half
# (Airflow's) of them any process imports. Their processes write the bytecode of what they
# import instead (WRITE_BYTECODE).
SPARK_VENV := .venv-spark
SPARK_STAMP := $(SPARK_VENV)/.installed
$(SPARK_STAMP): requirements/spark.txt pyproject.toml | $(STAMP)
	@test -x $(SPARK_VENV)/bin/python || $(NEW_VENV) $(SPARK_VENV)
	$(BIN)/uv pip sync --quiet --python $(SPARK_VENV)/bin/python --require-hashes \
	  requirements/spark.txt
	$(BIN)/uv pip install --quiet --python $(SPARK_VENV)/bin/python --no-build-isolation --no-deps -e .
	@touch $@

spark-env: $(SPARK_STAMP) ## Create or refresh .venv-spark (PySpark + the service's pins) for `churn score --engine spark`

data: $(STAMP) ## Get the raw data as data.dvc pins it: pull it, or rebuild it from its source
	@churn fetch --contract contract.yaml --dvc-file data.dvc

# Data that differs from its pin stops everything (DVC would re-pin it). A failed stage leaves
# the outputs of the last successful run in place: `dvc checkout` restores what dvc.lock pins
# (DVC removes a stage's outputs before running it), and the run-cache stays on.
repro: $(STAMP) ## Run the pipeline (only the stages whose inputs changed)
	@churn fetch --verify --dvc-file data.dvc
	@dvc repro || { status=$$?; dvc checkout --quiet >/dev/null 2>&1; \
	  echo "make repro: a stage failed (above); the outputs of the last successful run are back in place" >&2; \
	  exit $$status; }

metrics: $(STAMP) ## Show the current metrics
	@dvc metrics show

run: install data repro metrics ## Set up if needed, get the data, run the pipeline, print the metrics

# make itself can only exit 0 or 2, so the recipe says which failure it was; scripts read
# `exit_code` in reports/report.json (0 passed, 1 gate failed, 2 no report could be made).
report: $(STAMP) ## Compare the workspace's model with BASE's (default main); fails if the gate fails or no report could be made (says which)
	@status=0; churn report --base '$(BASE)' --model models/model --data artifacts/prepared \
	  --raw '$(DATA)' --metrics eval/metrics.json --params params.yaml --gate gate.yaml \
	  --out reports/report.md --json reports/report.json --assets reports/assets || status=$$?; \
	case $$status in \
	  0) ;; \
	  1) echo "make report: the gate failed (churn report exited 1); see reports/report.md" >&2 ;; \
	  *) echo "make report: no report could be made (churn report exited $$status)" >&2 ;; \
	esac; exit $$status

# The deliveries use what dvc.lock pins for this commit, or refuse: after `git checkout` of
# another branch without the hooks, models/ may still be the other branch's.
current-model: $(STAMP)
	@dvc status --quiet train compile >/dev/null 2>&1 || { echo "models/ is not what dvc.lock \
	pins for this commit (another branch's model, or inputs changed since the last run): run \
	\`dvc checkout\` to get this commit's model, or \`make repro\` to rebuild it" >&2; exit 2; }

score: current-model ## Pre-score every row of SCORE_INPUT (the raw table) into SCORES (served as data)
	churn score --model models/model --compiled models/compiled --input '$(SCORE_INPUT)' \
	  --out '$(SCORES)'

wheel: current-model ## Build the embedded-model wheel (the model + load()/predict()) into dist/
	churn wheel --model models/model --source src/churn/deliver/wheel/template --out dist

IMAGE ?= churn-service
serve: current-model ## Serve the pipeline's model on PORT (default 8080); /scores once `make score` ran
	exec churn serve --model models/model --compiled models/compiled \
	  $(if $(wildcard $(SCORES)),--scores '$(SCORES)')

notebook: $(STAMP) ## Open the notebooks in JupyterLab, on the project's environment
	exec jupyter lab --notebook-dir=notebooks

# MLflow's job runner (unused here) more than doubles the start-up; its libraries' deprecation
# warnings are theirs to fix, not the reader's to wade through.
mlflow: $(STAMP) ## Browse the pipeline's MLflow runs (the project's store, or MLFLOW_TRACKING_URI)
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false PYTHONWARNINGS=ignore::DeprecationWarning \
	  exec mlflow ui --workers 1 --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///mlruns/mlflow.db}"

bench: bench-serve bench-score bench-report ## Run the benchmarks (each against its baseline, measured in the same run)

bench-serve: $(STAMP) ## Benchmark the service: vs `mlflow models serve`, under large requests, with its log (~7 min)
	python benchmarks/bench_serve.py --model models/model --compiled models/compiled \
	  --data artifacts/prepared

bench-score: $(STAMP) ## Benchmark `churn score` against in-process predict_proba, 1M rows (~2 min)
	python benchmarks/bench_score.py --model models/model --compiled models/compiled --data '$(DATA)'

ROWS ?= 1000000
bench-scale: $(STAMP) $(SPARK_STAMP) ## Pipeline, report and scoring at ROWS (default 1M) vs ROWS/10: time, memory, ratios
	$(WRITE_BYTECODE) python benchmarks/bench_scale.py --project . --rows '$(ROWS)' \
	  --spark-python $(SPARK_VENV)/bin/python

bench-report: $(STAMP) ## Benchmark the report's paired bootstrap, old approach vs current, 1,409-200,000 rows (~5 min)
	python benchmarks/bench_report.py

image: ## Build the service image IMAGE (default churn-service) with the model inside (needs Docker)
	docker build --build-arg GIT_SHA=$$(git rev-parse HEAD) --build-arg PYTHON_VERSION=$(PYTHON_VERSION) \
	  --tag '$(IMAGE)' .

# Two workers (pytest-xdist): a test file stays on one, so its fixtures are built once.
TEST_WORKERS ?= 2
test: $(STAMP) ## Every test but the engines' (~4.5 min; see test-engines)
	$(WRITE_BYTECODE) pytest -n $(TEST_WORKERS)

# Coverage follows the stages into their `dvc repro` subprocesses (pyproject.toml), which slows
# every Python process the suite starts: measured apart from `make test`.
coverage: $(STAMP) ## make test with branch coverage of src/, subprocesses included (fails under 80%)
	$(WRITE_BYTECODE) pytest -n $(TEST_WORKERS) --cov --cov-report=term

test-unit: $(STAMP) ## Only the fast unit tests (~20 s)
	$(WRITE_BYTECODE) pytest -n $(TEST_WORKERS) tests/unit

lint: $(STAMP) ## Run every pre-commit hook on every file
	pre-commit run --all-files --show-diff-on-failure

lock: $(STAMP) ## Recompile requirements/*.txt from requirements/*.in (pins with hashes, no index URLs)
	cd requirements && for set in bootstrap serve dev airflow spark; do \
	  uv pip compile $$set.in --quiet --python-version $(PYTHON_VERSION) --universal --generate-hashes \
	    --no-emit-index-url --no-emit-find-links --output-file $$set.txt || exit 1; done

rename: ## Rename the project: `make rename NAME=yourname` (package, command, wheel, image, metrics)
	@python3 tools/rename_project.py '$(NAME)'

clean: ## Remove caches and build leftovers (keeps .venv, data and the DVC cache)
	rm -rf .pytest_cache .ruff_cache .coverage .coverage.* htmlcov dist build

# ---- CI plumbing: the steps of .github/workflows/*.yml, runnable locally too (see docs/ci.md) ----
.PHONY: dvc-credentials pull push pr-artifact pr-artifact-check pr-comment-target smoke push-image \
	ecr-image model-card register
MODEL_NAME ?= churn
MODEL_VERSION ?= $(shell git describe --tags --always 2>/dev/null || echo unreleased)
SMOKE_PORT ?= 8080

dvc-credentials: ## (CI) Write $DVC_REMOTE_CONFIG (the remote's secrets) to .dvc/config.local if set
	@if [ -n "$$DVC_REMOTE_CONFIG" ]; then \
	  (umask 077 && printf '%s\n' "$$DVC_REMOTE_CONFIG" > .dvc/config.local) && \
	  echo "DVC remote credentials written to .dvc/config.local"; \
	else echo "No DVC remote credentials in this run (forks get none): only what needs none is used"; fi

pull: $(STAMP) ## Pull pipeline outputs and run-cache from the DVC remote; repro rebuilds what is missing
	dvc pull --run-cache --allow-missing || \
	  echo "warning: dvc pull failed (no remote, or no access to it): dvc repro rebuilds what is missing" >&2

push: $(STAMP) ## Push data, pipeline outputs and run-cache to the DVC remote
	dvc push --run-cache

pr-artifact: ## (CI) Put the PR number (PR=<n>) and the metrics beside the report in reports/
	@PYTHONPATH=src python3 -m churn.release.pr_artifact collect --reports reports --number '$(PR)' --metrics eval/metrics.json

pr-artifact-check: ## (CI) Validate an untrusted PR report artifact (ARTIFACT=<dir>); print number=, report=
	@PYTHONPATH=src python3 -m churn.release.pr_artifact check '$(ARTIFACT)'

pr-comment-target: ## (CI) pr-artifact-check, then ask GitHub (GITHUB_TOKEN) for the run's pull request
	@PYTHONPATH=src python3 -m churn.release.pr_target --artifact '$(ARTIFACT)'

smoke: ## Start the image IMAGE as SageMaker does (`IMAGE serve`), check /ping and /invocations, stop it
	@cid=$$(docker run --detach --rm --publish 127.0.0.1:$(SMOKE_PORT):8080 '$(IMAGE)' serve) || exit 2; \
	PYTHONPATH=src python3 -m churn.release.smoke --url http://127.0.0.1:$(SMOKE_PORT) \
	  --example models/model/serving_input_example.json; status=$$?; \
	docker logs "$$cid" 2>&1 | tail -n 20; docker stop "$$cid" >/dev/null; exit $$status

push-image: ## (CI) Push the smoke-tested image IMAGE_ID under TAGS (comma-separated); print digest=, ref=
	@PYTHONPATH=src python3 -m churn.release.image_push push --image '$(IMAGE_ID)' --tags '$(TAGS)'

ecr-image: ## (CI) Copy the pushed image SOURCE (repo@sha256:...) to ECR_REPOSITORY:TAG, for SageMaker
	@PYTHONPATH=src python3 -m churn.release.image_push copy --source '$(SOURCE)' \
	  --to '$(ECR_REPOSITORY):$(TAG)' --login-ecr

model-card: $(STAMP) ## Write dist/model-card.md (metrics, params, data hash) for the release
	churn model-card --model models/model --metrics eval/metrics.json --out dist/model-card.md \
	  --version '$(MODEL_VERSION)'

register: $(STAMP) ## Register models/model in MLflow as MODEL_NAME@champion (skipped without MLFLOW_TRACKING_URI)
	churn register --model models/model --metrics eval/metrics.json --name '$(MODEL_NAME)' --alias champion

# ---- Monitoring: Prometheus rules, Grafana dashboard, the monitoring issue (README "Monitoring") --
.PHONY: prometheus check-rules monitor monitor-issue
RULES_DIR := monitoring/prometheus
MONITOR_JSON ?= reports/monitor.json
MONITOR_MD ?= reports/monitor.md

# The window is the environment's MONITOR_WINDOW ("LOCATION [PERIOD]": the prediction log's
# directory or fsspec URL, default period 7d), outcomes MONITOR_LABELS; `churn monitor` reads
# both itself. Unset, the test split is monitored as a sample, so a fresh repository is healthy.
# churn monitor exits 1 on an alert and 2 when it could not run; make turns either into its own
# status 2, and monitor.json's `status` says which.
monitor: $(STAMP) ## Check the model on the production window (MONITOR_WINDOW, else a sample); fail on an alert
	churn monitor --model models/model --data artifacts/prepared --params params.yaml \
	  --out '$(MONITOR_MD)' --json '$(MONITOR_JSON)'

# Debian's and Ubuntu's `prometheus` package ships both binaries. Installing needs root (CI runs
# as root or has password-less sudo); elsewhere it says what to install.
prometheus: ## Install prometheus and promtool (apt package `prometheus`) unless both are on PATH
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo=sudo; else \
	  echo "prometheus and promtool are missing: install the 'prometheus' package (apt-get install prometheus) or put both on PATH" >&2; \
	  exit 2; fi; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends prometheus

check-rules: prometheus ## Check the alert rules and the example config with promtool, run the rules' unit tests
	promtool check rules $(RULES_DIR)/rules.yml
	promtool check config $(RULES_DIR)/prometheus.yml
	promtool test rules $(RULES_DIR)/rules_test.yml $(RULES_DIR)/rules_test_scores.yml

monitor-issue: ## (CI) Open or update the `model-monitoring` issue from MONITOR_JSON (GITHUB_* env)
	@PYTHONPATH=src python3 -m churn.release.monitor_issue --json '$(MONITOR_JSON)' --markdown '$(MONITOR_MD)'

# ---- Engines: the pipeline on Apache Airflow (README, "When one machine is not enough") ----
.PHONY: airflow airflow-env airflow-dag test-engines engine-tools
AIRFLOW_VENV := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed
AIRFLOW_HOME ?= $(CURDIR)/.airflow
AIRFLOW_PORT ?= 8081
AIRFLOW_CHECKOUT := $(AIRFLOW_HOME)/checkout
DAG ?= churn_pipeline
CONF ?= {}
# System tools the engine tests start for real (Debian package names).
ENGINE_PACKAGES := redis-server
# Local Airflow: this repository's DAGs, a scratch clone for the tasks (never the working copy),
# the score store where `make serve` reads it. A deployment sets its own (see the DAG file).
AIRFLOW_LOCAL = $(WRITE_BYTECODE) PATH='$(CURDIR)/$(AIRFLOW_VENV)/bin:$(SYSTEM_PATH)' \
  AIRFLOW_HOME='$(AIRFLOW_HOME)' AIRFLOW__CORE__DAGS_FOLDER='$(CURDIR)/airflow/dags' \
  AIRFLOW__CORE__LOAD_EXAMPLES=False CHURN_CHECKOUT='$(AIRFLOW_CHECKOUT)' \
  AIRFLOW_VAR_CHURN_SCORE_STORE='$(abspath $(SCORES))'

$(AIRFLOW_STAMP): requirements/airflow.txt | $(STAMP)
	@test -x $(AIRFLOW_VENV)/bin/python || $(NEW_VENV) $(AIRFLOW_VENV)
	$(BIN)/uv pip sync --quiet --python $(AIRFLOW_VENV)/bin/python --require-hashes \
	  requirements/airflow.txt
	@touch $@

test-engines: $(STAMP) $(AIRFLOW_STAMP) $(SPARK_STAMP) engine-tools check-rules ## Run the tests against real engines (tests/engines: Prometheus, Airflow, Celery, Redis, Spark)
	$(WRITE_BYTECODE) AIRFLOW_BIN='$(CURDIR)/$(AIRFLOW_VENV)/bin' pytest -n $(TEST_WORKERS) tests/engines

airflow-env: $(AIRFLOW_STAMP) ## Create or refresh .venv-airflow (Airflow + Celery) from its own lock

engine-tools: ## Install the system tools the engine tests start, if missing (Debian; needs root)
	@missing=$$(for p in $(ENGINE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && apt-get install -y -qq $$missing; fi

$(AIRFLOW_CHECKOUT)/.git: | $(STAMP)
	churn task checkout '$(AIRFLOW_CHECKOUT)'

$(AIRFLOW_HOME)/airflow.db: | $(AIRFLOW_STAMP)
	$(AIRFLOW_LOCAL) $(AIRFLOW_VENV)/bin/airflow db migrate

airflow: $(AIRFLOW_STAMP) $(AIRFLOW_CHECKOUT)/.git ## Airflow standalone with the churn DAGs; UI on 127.0.0.1:AIRFLOW_PORT (8081)
	$(AIRFLOW_LOCAL) AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	  AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$(AIRFLOW_PORT)/execution/ \
	  AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=True $(AIRFLOW_VENV)/bin/airflow standalone

airflow-dag: $(AIRFLOW_CHECKOUT)/.git $(AIRFLOW_HOME)/airflow.db ## Run DAG once in-process (`airflow dags test`); CONF='{"revision": "main"}'
	$(AIRFLOW_LOCAL) $(AIRFLOW_VENV)/bin/airflow dags test '$(DAG)' -c '$(CONF)'
