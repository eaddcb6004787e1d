# What people run. `make demo` and `make test` are the README's quick start.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FFMPEG_DIR := .cache/ffmpeg/bin
# SAM CLI and checkov pin conflicting boto3 versions: each gets its own environment.
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
SAM_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30

export PATH := $(CURDIR)/$(FFMPEG_DIR):$(PATH)

# Debian's python3 has no venv module until python3-venv is installed: install it when we can
# (root with apt-get, as on a fresh machine or CI), else say what is missing.
define make_venv
	$(PYTHON) -m venv $(1) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && rm -rf $(1) && $(PYTHON) -m venv $(1); \
	  else echo "make: '$(PYTHON) -m venv' failed: install your distribution's python3-venv package" >&2; exit 1; fi; }
endef
# The browser tests (tests/browser) drive Debian's chromium through Playwright, which never
# downloads a browser of its own: install the package the same way, when we can.
CHROMIUM := /usr/bin/chromium
export PYTHONPATH := $(CURDIR)/layers/shared:$(CURDIR)/local
export SAM_CLI_TELEMETRY := 0

.PHONY: help setup ffmpeg chromium local demo test test-unit lint build invoke drill redrive bench soak openapi preflight deploy clean

help:
	@echo "make demo    set up and run the whole pipeline locally, end to end"
	@echo "make test    set up and run every check and test (what CI runs)"
	@echo "make local   run the local stack until Ctrl-C (writes .local/stack.json)"
	@echo "make invoke FN=<LogicalId> EVENT=<file>   invoke one function of the running stack"
	@echo "make drill   publish every alarm of the template through AlarmTopic to the local chat"
	@echo "make redrive QUEUE=IngestDLQ|ClipDLQ [STACK=name]   move a DLQ's messages back"
	@echo "make bench   measure clip/validation cost, cold starts, throughput against the naive way"
	@echo "make soak    200 uploads and 200 clips through the local stack, then reconcile every id"
	@echo "make openapi write docs/openapi.json from the handlers' routes (a test fails when it is stale)"
	@echo "make lint    ruff (lint and format), mypy, sam validate --lint, cfn-lint, checkov"
	@echo "make build   sam build for the template's architecture (no Docker), .pyc, size per function"
	@echo "make deploy PARAMS=\"JwtIssuer=... JwtAudience=... CorsAllowedOrigins=...\"   preflight, sam build, sam deploy (CONFIG_ENV=dev|prod)"

setup: $(VENV)/.installed $(SAM_VENV)/.installed ffmpeg

$(VENV)/.installed: requirements-dev.txt layers/shared/requirements.txt
	$(call make_venv,$(VENV))
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

ffmpeg: $(VENV)/.installed
	@PIP=$(CURDIR)/$(BIN)/pip bash layers/ffmpeg/fetch.sh $(FFMPEG_DIR)

chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "make: $(CHROMIUM) is missing: install your distribution's chromium package" >&2; exit 1; fi; }

$(SAM_VENV)/.installed:
	$(call make_venv,$(SAM_VENV))
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==$(SAM_VERSION)
	touch $@

$(CHECKOV_VENV)/.installed:
	$(call make_venv,$(CHECKOV_VENV))
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

local: setup
	$(BIN)/python -m devstack

demo: setup
	$(BIN)/python -m stacktools.demo

test: setup chromium lint
	$(BIN)/pytest tests

test-unit: setup
	$(BIN)/pytest tests/unit

lint: setup $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/shared functions local
	$(SAM_VENV)/bin/sam validate --lint --region us-east-1
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

# The ffmpeg layer gets the binaries of the architecture template.yaml declares, not the build machine's
# (FFMPEG_ARCH; `make ffmpeg` for local runs keeps the host's); then .pyc for python3.12 and a size report.
build: $(VENV)/.installed $(SAM_VENV)/.installed
	PY312_DIR=$$(scripts/find-python312.sh) && FFMPEG_ARCH=$$($(BIN)/python scripts/build_artifacts.py arch) && \
	  FFMPEG_ARCH=$$FFMPEG_ARCH PATH="$$PY312_DIR:$$PATH" $(SAM_VENV)/bin/sam build && \
	  $(BIN)/python scripts/build_artifacts.py finish --python "$$PY312_DIR/python3.12"

invoke: setup
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<LogicalId> EVENT=<file>"; exit 2; }
	$(BIN)/python -m stacktools.invoke $(FN) $(EVENT)

drill: setup
	$(BIN)/python -m stacktools.drill

redrive: setup
	@test -n "$(QUEUE)" || { echo "usage: make redrive QUEUE=IngestDLQ|ClipDLQ [STACK=<deployed stack>]"; exit 2; }
	$(BIN)/python -m stacktools.redrive $(QUEUE) $(if $(STACK),--stack-name $(STACK))

soak: setup
	$(BIN)/python -m stacktools.load --uploads 200 --clips 200 --deletes 50

openapi: setup
	$(BIN)/python -m devstack.openapi

$(VENV)/.bench-installed: $(VENV)/.installed bench/requirements.txt
	$(BIN)/pip install --quiet -r bench/requirements.txt
	touch $@

bench: setup $(VENV)/.bench-installed
	$(BIN)/python -m bench.run $(if $(USERS),--users $(USERS))

# Refuses placeholder parameters (JwtIssuer, JwtAudience, ...) before anything is built; PARAMS adds
# overrides to samconfig.toml's (sam deploy would otherwise replace those with the command line's).
preflight: $(VENV)/.installed
	@$(BIN)/python scripts/deploy_preflight.py --config-env $(or $(CONFIG_ENV),dev) >/dev/null

deploy: preflight build
	$(SAM_VENV)/bin/sam deploy --config-env $(or $(CONFIG_ENV),dev) \
	  --parameter-overrides "$$($(BIN)/python scripts/deploy_preflight.py --config-env $(or $(CONFIG_ENV),dev))"

clean:
	rm -rf .aws-sam .local .pytest_cache .mypy_cache .ruff_cache
