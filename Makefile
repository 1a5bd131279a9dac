# The command vocabulary: people, git hooks and CI all run these same targets.
# `make help` lists them.

PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
BASE ?= main
# Every recipe finds the venv's tools (churn, dvc, pytest, ...) first.
export PATH := $(BIN):$(PATH)
# Two OpenMP threads double the CPU per request for no extra throughput on small machines.
export OMP_NUM_THREADS ?= 1

.DEFAULT_GOAL := help
.PHONY: help install run data repro metrics test test-unit lint lock clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements/bootstrap.txt requirements/dev.txt pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements/bootstrap.txt
	$(BIN)/uv pip sync --quiet --python $(VENV)/bin/python --require-hashes requirements/dev.txt
	$(BIN)/uv pip install --quiet --python $(VENV)/bin/python --no-build-isolation --no-deps -e .
	@touch $@

install: $(STAMP) ## Create or refresh .venv from the locked requirements
	@test ! -d .git || $(BIN)/pre-commit install --install-hooks >/dev/null

data: $(STAMP) ## Pull the raw data from the DVC remote, or rebuild it from its public source
	churn fetch --dvc-file data.dvc --out data/wa_churn.csv

repro: $(STAMP) ## Run the pipeline (only the stages whose inputs changed)
	dvc repro

metrics: $(STAMP) ## Show the current metrics
	@dvc metrics show

run: data repro metrics ## Set up if needed, get the data, run the pipeline, print the metrics

test: $(STAMP) ## Run the whole test suite with coverage
	pytest --cov --cov-report=term

test-unit: $(STAMP) ## Run only the fast unit tests
	pytest tests/unit

lint: $(STAMP) ## Run every pre-commit hook on every file
	pre-commit run --all-files --show-diff-on-failure

lock: $(STAMP) ## Recompile requirements/*.txt from requirements/*.in (pins with hashes, no index URLs)
	cd requirements && for set in bootstrap serve dev; do \
	  uv pip compile $$set.in --quiet --python-version 3.11 --universal --generate-hashes \
	    --no-emit-index-url --no-emit-find-links --output-file $$set.txt || exit 1; done

clean: ## Remove caches and build leftovers (keeps .venv, data and the DVC cache)
	rm -rf .pytest_cache .ruff_cache .coverage .coverage.* htmlcov dist build
