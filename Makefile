# Hearth — `make help` lists the targets.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STACK ?= local
HEARTH_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/hearth
PULUMI_VERSION := $(shell sed -n 's/^PULUMI_VERSION=//p' tools/pulumi/versions.env)
ACTIONLINT := $(HEARTH_CACHE)/actionlint-$(shell sed -n 's/^ACTIONLINT_VERSION=//p' tools/versions.env)/actionlint
# The built CLI comes first; a Pulumi installed the usual way is found after it.
export PATH := $(HEARTH_CACHE)/pulumi-$(PULUMI_VERSION)/bin:$(CURDIR)/.venv/bin:$(PATH)
export PULUMI_HOME ?= $(HEARTH_CACHE)/pulumi-home
export PULUMI_SKIP_UPDATE_CHECK := true
export HEARTH_CACHE

PY := .venv/bin/python
PY_SOURCES := hearth tests bench/deploy bench/backup policies images/backup/agent __main__.py

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1mmake %-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: setup
setup: ## Install and build everything needed here (idempotent; caches in ~/.cache/hearth)
	@bash tools/setup.sh

.PHONY: images
images: ## Build the service images (skips unchanged ones)
	@bash tools/build-images.sh

.PHONY: up
up: setup ## Deploy stack STACK (default: local) and print its endpoints
	@$(PY) -m hearth.cli up --stack $(STACK)

.PHONY: preview
preview: setup ## Show what `make up` would change in STACK, with the diff
	@$(PY) -m hearth.cli preview --stack $(STACK)

.PHONY: down
down: ## Destroy STACK; its data stays (PURGE=1 deletes it too)
	@$(PY) -m hearth.cli down --stack $(STACK) $(if $(PURGE),--purge,)

.PHONY: outputs
outputs: ## Print STACK's outputs (secrets masked; SHOW_SECRETS=1 shows them)
	@$(PY) -m hearth.cli outputs --stack $(STACK) $(if $(SHOW_SECRETS),--show-secrets,)

.PHONY: backup
backup: ## Back up every data store of STACK now (FULL=1: PostgreSQL in full)
	@$(PY) -m hearth.cli backup --stack $(STACK) $(if $(FULL),--full,)

.PHONY: backups
backups: ## List STACK's backups, their age and size
	@$(PY) -m hearth.cli backups --stack $(STACK)

.PHONY: restore
restore: ## Restore STACK to the latest state or TIME=…; YES=1 replaces live data (STORES=postgres,s3,nats; FROM=offbox)
	@$(PY) -m hearth.cli restore --stack $(STACK) $(if $(TIME),--time "$(TIME)",) $(if $(STORES),--stores $(STORES),) $(if $(YES),--yes,) $(if $(filter offbox,$(FROM)),--from-offbox,)

.PHONY: swarm-images
swarm-images: ## Load swarm stack STACK's images onto NODES (their Docker APIs, comma-separated)
	@$(PY) -m hearth.cli swarm-images --stack $(STACK) --nodes "$(NODES)"

.PHONY: lint
lint: ## ruff, mypy, actionlint (hadolint runs with the image tests)
	@echo "==> ruff"; .venv/bin/ruff check $(PY_SOURCES); .venv/bin/ruff format --check $(PY_SOURCES)
	@echo "==> mypy"; .venv/bin/mypy $(PY_SOURCES)
	@echo "==> actionlint"; $(ACTIONLINT) -color .github/workflows/*.yml

.PHONY: test
test: setup lint ## Everything CI runs: lint, unit, engine, image, app, console, e2e, host and swarm tests
	@bash tools/test.sh

.PHONY: test-swarm
test-swarm: setup ## The swarm suites alone: the swarm role's molecule scenario, then the platform on a 3-node lab
	@HEARTH_SKIP_LINT=1 bash tools/test-ansible.sh swarm
	@bash tools/test-swarm.sh

.PHONY: screenshots
screenshots: ## Refresh docs/images/ from the running stack STACK (headless Chromium)
	@$(PY) tools/screenshots.py --stack $(STACK)

.PHONY: e2e
e2e: setup ## A real `pulumi up` of a throwaway local stack and the e2e suites against it
	@bash tools/test-e2e.sh
