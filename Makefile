# AI Data Scientist. `make up` runs the stack; `make test` runs the whole suite (as CI does).
SHELL := /bin/bash
PYTHON ?= python3
COMPOSE := docker compose
ENV_FILE := .env

.PHONY: up down logs images test test-unit lint bench deps help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

up: ## Build the images and start Redis + the gateway; prints the URL and login link
	@deploy/ensure-docker.sh
	@deploy/images.sh
	@deploy/ensure-compose.sh
	@deploy/env-file.sh $(ENV_FILE)
	$(COMPOSE) --env-file $(ENV_FILE) up -d --wait
	@deploy/print-login.sh $(ENV_FILE)

down: ## Stop the stack (chats, files and Redis data stay)
	$(COMPOSE) --env-file $(ENV_FILE) down

logs: ## Follow the gateway's log
	$(COMPOSE) --env-file $(ENV_FILE) logs -f gateway

images: ## Build the sandbox, gateway and redis images (offline-capable)
	@deploy/ensure-docker.sh
	@deploy/images.sh

deps: ## Install what the tests need on this host: Python packages, redis-server, Docker
	@deploy/ensure-test-deps.sh
	@deploy/ensure-docker.sh

test: deps ## Run lint and the whole test suite against real Docker and Redis
	@deploy/images.sh sandbox
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m pytest

test-unit: ## Only the tests that need neither Docker nor Redis
	$(PYTHON) -m pytest tests/unit

lint: ## ruff lint and format check
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

bench: deps ## Measure warm and cold round trips through the gateway
	@deploy/images.sh sandbox
	$(PYTHON) -m bench
