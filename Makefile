# AI Data Scientist. `make up` runs the stack; `make test` runs the whole suite (as CI does).
SHELL := /bin/bash
PYTHON ?= python3
ENV_FILE := .env
# Compose reads the env file twice: --env-file for the ${...} in docker-compose.yml, and
# ADS_ENV_FILE names it as the gateway's env_file, which hands every setting to the gateway.
COMPOSE := ADS_ENV_FILE=$(abspath $(ENV_FILE)) docker compose --env-file $(ENV_FILE)
# Test files run in this many pytest-xdist workers, each with its own Redis, gateways and DATA_DIR;
# the suite mostly waits on containers and timeouts, so three overlap well even on two cores.
TEST_WORKERS ?= 3
SHELL_SCRIPTS := $(wildcard deploy/*.sh) .ci/run

.PHONY: up down logs images lock packages variant test test-unit lint bench deps help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

up: ## Build the images and start Redis + the gateway; prints the URL and login link
	@deploy/ensure-docker.sh
	@deploy/ensure-gvisor.sh
	@deploy/images.sh
	@deploy/ensure-compose.sh
	@deploy/env-file.sh $(ENV_FILE)
	@deploy/ensure-data-mount.sh --env-file $(ENV_FILE)
	$(COMPOSE) up -d --wait
	@deploy/print-login.sh $(ENV_FILE)

down: ## Stop the stack and the chats' sandboxes (chats, files, variables and Redis data stay)
	$(COMPOSE) down
	@deploy/stop-sandboxes.sh --env-file $(ENV_FILE)

logs: ## Follow the gateway's log
	$(COMPOSE) logs -f gateway

images: ## Build the sandbox, gateway and redis images (offline-capable)
	@deploy/ensure-docker.sh
	@deploy/images.sh

packages: ## Add wheels to the package store (PACKAGES_DIR): PKGS="xgboost lifelines" and/or REQUIREMENTS=file
	@deploy/packages.sh --env-file $(ENV_FILE) $(if $(REQUIREMENTS),--requirements $(REQUIREMENTS)) $(PKGS)

variant: ## Build the image variant ai-data-scientist/sandbox-NAME from the sandbox image: NAME=ml REQUIREMENTS=file
	@deploy/ensure-docker.sh
	@deploy/variant.sh $(NAME) $(REQUIREMENTS)

lock: ## Re-resolve the images' Python packages into deploy/requirements-*.lock.txt
	@deploy/lock.sh

deps: ## Install what the tests need on this host: Python packages, redis-server, shellcheck, Docker, gVisor, docker compose
	@deploy/ensure-test-deps.sh
	@deploy/ensure-docker.sh
	@deploy/ensure-gvisor.sh
	@deploy/ensure-compose.sh

# tests/containers runs the gateway and redis images that `make up` ships, so all three are built.
test: deps ## Run lint and the whole test suite against real Docker and Redis
	@deploy/images.sh
	@$(MAKE) --no-print-directory lint
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadfile

test-unit: ## Only the tests that need no Docker (some start a redis-server of their own)
	$(PYTHON) -m pytest tests/unit

lint: ## ruff lint and format check, mypy --strict, shellcheck over deploy/ and .ci/run, ESLint over the page's JavaScript
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy
	@command -v shellcheck >/dev/null || { echo "lint: shellcheck is missing: make deps (or apt-get install shellcheck)" >&2; exit 1; }
	shellcheck --external-sources $(SHELL_SCRIPTS)
	@deploy/eslint.sh

bench: deps ## Measure round trips, memory and load through the gateway (BENCH_ARGS: bench's options)
	@deploy/images.sh sandbox
	$(PYTHON) -m bench $(BENCH_ARGS)
