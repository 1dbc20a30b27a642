# bluegreen: every target bootstraps what it needs (a virtualenv from pinned requirements) first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SAM_VENV := .venv-sam
SAM_PY_VERSION ?= 3.12

.DEFAULT_GOAL := help
.PHONY: help venv test lint format typecheck unit integration e2e demo bench sam-build sam-validate clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): requirements/dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "bluegreen needs Python 3.11+"' 
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP) ## Create the virtualenv from the pinned requirements

lint: $(STAMP) ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## ruff format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(STAMP) ## mypy, strict on shared/bluegreen
	$(VENV)/bin/mypy

test: lint typecheck ## Lint, type-check and run every test (unit, integration, template, e2e)
	$(PY) -m pytest -q

demo: $(STAMP) ## Run the whole lifecycle on the embedded local AWS
	$(PY) -m bluegreen_local.demo

bench: $(STAMP) ## Measure cold start, warm overhead, calls per path, scale; writes benchmarks/RESULTS.md
	$(PY) benchmarks/run.py

clean: ## Remove the virtualenvs and caches
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
