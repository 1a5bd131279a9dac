# The command vocabulary: people, git hooks and CI all run these same targets.
# `make help` lists them.

PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
BASE ?= main
# The raw table's path, read from its one home, the data contract (only by recipes that use it).
DATA = $(shell $(firstword $(wildcard $(BIN)/python) python3) -c \
  'import yaml; print(yaml.safe_load(open("contract.yaml"))["data"]["path"])')
# Every recipe finds the venv's tools (churn, dvc, pytest, ...) first.
export PATH := $(BIN):$(PATH)
# Two OpenMP threads double the CPU per request for no extra throughput on small machines.
export OMP_NUM_THREADS ?= 1

.DEFAULT_GOAL := help
# Nested makes (a workflow step run by a test run by `make test`) must not print "Entering
# directory" lines into output that CI parses.
MAKEFLAGS += --no-print-directory
.PHONY: help install run data repro metrics test test-unit lint lock clean report score wheel \
	serve bench bench-serve bench-score bench-scale image spark-env

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements/bootstrap.txt requirements/dev.txt pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements/bootstrap.txt
	$(BIN)/uv pip sync --quiet --python $(VENV)/bin/python --require-hashes --compile-bytecode \
	  requirements/dev.txt
	$(BIN)/uv pip install --quiet --python $(VENV)/bin/python --no-build-isolation --no-deps -e .
	@touch $@

install: $(STAMP) ## Create or refresh .venv from the locked requirements
	@test ! -d .git || $(BIN)/pre-commit install --install-hooks >/dev/null

# PySpark (~400 MB, and Java 17 to run) lives in its own environment: only the Spark engine, its
# tests and bench-scale need it. The driver and the Spark workers' Python both run from it.
SPARK_VENV := .venv-spark
SPARK_STAMP := $(SPARK_VENV)/.installed
$(SPARK_STAMP): requirements/bootstrap.txt requirements/spark.txt pyproject.toml
	@test -x $(SPARK_VENV)/bin/python || $(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements/bootstrap.txt
	$(SPARK_VENV)/bin/uv pip sync --quiet --python $(SPARK_VENV)/bin/python --require-hashes \
	  --compile-bytecode requirements/spark.txt
	$(SPARK_VENV)/bin/uv pip install --quiet --python $(SPARK_VENV)/bin/python --no-build-isolation \
	  --no-deps -e .
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

run: data repro metrics ## Set up if needed, get the data, run the pipeline, print the metrics

report: $(STAMP) ## Compare the workspace's model with BASE's (default main); exit 1 if the gate fails
	churn report --base '$(BASE)' --model models/model --data artifacts/prepared \
	  --raw '$(DATA)' --metrics eval/metrics.json --params params.yaml \
	  --out reports/report.md --json reports/report.json --assets reports/assets

score: $(STAMP) ## Pre-score every row of the raw table into scores/scores.sqlite (served as data)
	churn score --model models/model --compiled models/compiled --input '$(DATA)' \
	  --out scores/scores.sqlite

wheel: $(STAMP) ## Build the embedded-model wheel (the model + load()/predict()) into dist/
	churn wheel --model models/model --source src/churn/deliver/wheel/template --out dist

IMAGE ?= churn-service
serve: $(STAMP) ## Serve the pipeline's model on PORT (default 8080); /scores too once `make score` ran
	churn serve --model models/model --compiled models/compiled \
	  $(if $(wildcard scores/scores.sqlite),--scores scores/scores.sqlite)

bench: bench-serve bench-score ## Run the benchmarks (each against its baseline, measured in the same run)

bench-serve: $(STAMP) ## Benchmark the service against `mlflow models serve` (~2 min; prints ratios)
	python benchmarks/bench_serve.py --model models/model --compiled models/compiled \
	  --data artifacts/prepared

bench-score: $(STAMP) ## Benchmark `churn score` against in-process predict_proba, 1M rows (~2 min)
	python benchmarks/bench_score.py --model models/model --compiled models/compiled --data '$(DATA)'

ROWS ?= 1000000
bench-scale: $(STAMP) $(SPARK_STAMP) ## Pipeline, report and scoring at ROWS (default 1M) vs ROWS/10: time, memory, ratios
	python benchmarks/bench_scale.py --project . --rows '$(ROWS)' --spark-python $(SPARK_VENV)/bin/python

image: ## Build the service image IMAGE (default churn-service) with the model inside (needs Docker)
	docker build --build-arg GIT_SHA=$$(git rev-parse HEAD) --tag '$(IMAGE)' .

test: $(STAMP) ## Run the whole test suite with coverage (not tests/engines: see test-engines)
	pytest --cov --cov-report=term

test-unit: $(STAMP) ## Run only the fast unit tests
	pytest tests/unit

lint: $(STAMP) ## Run every pre-commit hook on every file
	pre-commit run --all-files --show-diff-on-failure

lock: $(STAMP) ## Recompile requirements/*.txt from requirements/*.in (pins with hashes, no index URLs)
	cd requirements && for set in bootstrap serve dev spark; do \
	  uv pip compile $$set.in --quiet --python-version 3.11 --universal --generate-hashes \
	    --no-emit-index-url --no-emit-find-links --output-file $$set.txt || exit 1; done

clean: ## Remove caches and build leftovers (keeps .venv, data and the DVC cache)
	rm -rf .pytest_cache .ruff_cache .coverage .coverage.* htmlcov dist build

# ---- CI plumbing: the steps of .github/workflows/*.yml, runnable locally too (see docs/ci.md) ----
.PHONY: dvc-credentials pull push pr-artifact pr-artifact-check smoke model-card register
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

smoke: ## Run the image IMAGE, check /ping and one /invocations request, stop it
	@cid=$$(docker run --detach --rm --publish 127.0.0.1:$(SMOKE_PORT):8080 '$(IMAGE)') || exit 2; \
	PYTHONPATH=src python3 -m churn.release.smoke --url http://127.0.0.1:$(SMOKE_PORT) \
	  --example models/model/serving_input_example.json; status=$$?; \
	docker logs "$$cid" 2>&1 | tail -n 20; docker stop "$$cid" >/dev/null; exit $$status

model-card: $(STAMP) ## Write dist/model-card.md (metrics, params, data hash) for the release
	churn model-card --model models/model --metrics eval/metrics.json --out dist/model-card.md \
	  --version '$(MODEL_VERSION)'

register: $(STAMP) ## Register models/model in MLflow as MODEL_NAME@champion (skipped without MLFLOW_TRACKING_URI)
	churn register --model models/model --metrics eval/metrics.json --name '$(MODEL_NAME)' --alias champion

# ---- Monitoring: Prometheus rules, Grafana dashboard, the monitoring issue (README "Monitoring") --
.PHONY: prometheus check-rules test-engines monitor-issue
RULES_DIR := monitoring/prometheus
MONITOR_JSON ?= reports/monitor.json
MONITOR_MD ?= reports/monitor.md

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

test-engines: $(STAMP) $(SPARK_STAMP) check-rules ## Run the tests against real engines (tests/engines: Prometheus, Spark, ...)
	pytest tests/engines

monitor-issue: ## (CI) Open or update the `model-monitoring` issue from MONITOR_JSON (GITHUB_* env)
	@PYTHONPATH=src python3 -m churn.release.monitor_issue --json '$(MONITOR_JSON)' --markdown '$(MONITOR_MD)'
