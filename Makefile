# geo_ops: `make demo` and `make test` do all the set-up (see README.md, "Quick start").
# Every target that needs the database runs `make setup` first; it is idempotent and fast when
# nothing changed. DATABASE_URL points all of them at another server.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help setup demo serve test bench lint format clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## install what is missing (system packages, PostGIS, .venv), migrate, load fixtures
	@bash scripts/setup.sh

demo: setup ## set up, load demo data and serve the site on http://127.0.0.1:8000
	@bash scripts/demo.sh

serve: setup ## set up and serve the site without (re)loading demo data
	@bash scripts/serve.sh

test: setup ## set up, then ruff, makemigrations --check and the whole pytest suite
	@bash scripts/test.sh $(PYTEST_ARGS)

bench: setup ## set up, then run the benchmarks (writes bench/results/RESULTS.md)
	$(PY) -m bench.run

lint: ## ruff check, format check and the import contracts (lint-imports)
	@bash scripts/setup.sh venv >/dev/null
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: ## ruff format and safe fixes
	@bash scripts/setup.sh venv >/dev/null
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean: ## remove .venv and var/ (never the database)
	rm -rf $(VENV) var
