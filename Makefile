# bluegreen: every target bootstraps what it needs (a virtualenv from pinned requirements) first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SAM_VENV := .venv-sam
SAM_PY_VERSION ?= 3.12

.DEFAULT_GOAL := help
.PHONY: help venv test lint format typecheck unit integration e2e demo bench sam-venv sam-build sam-validate checkov clean

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

test: lint typecheck sam-validate sam-build checkov ## Lint, type-check, checkov and run every test (unit, integration, template, e2e)
	$(PY) -m pytest -q

# ------------------------------------------------------------------ SAM CLI
# aws-sam-cli pins its own boto3, pydantic, cfn-lint and aws-sam-translator, so it gets its own
# virtualenv, from requirements/sam.txt. Neither target needs an AWS account or credentials.
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM_RUN := SAM_CLI_TELEMETRY=0 $(SAM)
# `sam build` builds the layer (BuildMethod python3.12) with python3.12 from PATH. pyenv keeps each
# version in its own directory and its shim fails for a version it does not select, so the newest
# installed pyenv 3.12.x goes first on PATH when there is one; otherwise python3.12 must be on PATH.
SAM_PYTHON := python$(SAM_PY_VERSION)
SAM_PY_BIN := $(lastword $(sort $(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions/$(SAM_PY_VERSION).*/bin)))
SAM_PATH := $(if $(SAM_PY_BIN),$(SAM_PY_BIN):)$(PATH)

$(SAM_STAMP): requirements/sam.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "aws-sam-cli needs Python 3.10+"'
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/sam.txt
	touch $(SAM_STAMP)

sam-venv: $(SAM_STAMP) ## Create .venv-sam (the SAM CLI) from requirements/sam.txt

sam-validate: $(SAM_STAMP) ## sam validate --lint (cfn-lint through SAM; offline)
	$(SAM_RUN) validate --lint --template template.yaml --region us-east-1

sam-build: $(SAM_STAMP) ## sam build of the layer and the functions into .aws-sam/build (needs python3.12)
	@PATH="$(SAM_PATH)" $(SAM_PYTHON) -c 'import sys' >/dev/null 2>&1 || { echo "make sam-build: sam build needs $(SAM_PYTHON) on PATH (the runtime of the layer's BuildMethod); install Python $(SAM_PY_VERSION) (e.g. 'pyenv install $(SAM_PY_VERSION)' or your OS package $(SAM_PYTHON)) and run again" >&2; exit 1; }
	PATH="$(SAM_PATH)" $(SAM_RUN) build --template template.yaml --cached --parallel

# ------------------------------------------------------------------ checkov
# checkov pins its own boto3 & co., so it gets its own virtualenv, inside .venv (git-ignored, removed
# by `make clean`), from the fully pinned requirements/checkov.txt. It fails on any finding that is
# not in .checkov.baseline, where each accepted one has its reason. Offline: no platform download.
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): requirements/checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/checkov.txt
	touch $(CHECKOV_STAMP)

checkov: $(CHECKOV_STAMP) ## checkov on template.yaml against .checkov.baseline (every accepted finding with its reason)
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation \
		--baseline .checkov.baseline --skip-download --compact --quiet

demo: $(STAMP) ## Run the whole lifecycle on the embedded local AWS
	$(PY) -m bluegreen_local.demo

bench: $(STAMP) ## Measure cold start, warm overhead, calls per path, scale; writes benchmarks/RESULTS.md
	$(PY) benchmarks/run.py

clean: ## Remove the virtualenvs and caches
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis

# ------------------------------------------------------------------ the dashboard's browser test
# tests/browser drives Debian's Chromium through its WebDriver (chromium-driver); both come from
# apt-get, never from a download at test time. Installed when missing and when root (CI runs `make
# test` as root on a fresh Debian machine); elsewhere the browser test skips, and fails when CI=true.
browser-deps: ## Install Debian's chromium and chromium-driver for the browser test, if missing
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "make browser-deps: the browser test needs chromium and chromium-driver (apt-get install chromium chromium-driver, as root)" >&2; exit 0; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

test: browser-deps
.PHONY: browser-deps
