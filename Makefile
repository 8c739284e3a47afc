# Tollgate — the two commands are `make run` and `make test`; everything else is a helper for them.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lock install services stop-services lint typecheck clean bench

# Dependencies come from uv.lock, exactly as tested: `make lock` after changing pyproject.toml.
UV_VERSION := 0.13.9
$(STAMP): pyproject.toml uv.lock
	@command -v $(PY) >/dev/null || { echo "python3 (3.11+) is required"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/uv --version 2>/dev/null | grep -q '$(UV_VERSION)' || $(BIN)/python -m pip install -q 'uv==$(UV_VERSION)'
	@UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync -q --frozen --extra dev --python $(BIN)/python
	@touch $(STAMP)

lock: $(STAMP)
	@$(BIN)/uv lock

install: $(STAMP)
	@bash scripts/ensure-system.sh

services: install
	@$(BIN)/tollgate stores start

stop-services: install
	@$(BIN)/tollgate stores stop

## Run the whole product: stores, migrations, demo org, API + gateway + workers + scheduler.
run: services
	@$(BIN)/tollgate migrate
	@$(BIN)/tollgate run --demo

## Run the whole test suite against real services.
test: install
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy
	@$(BIN)/lint-imports
	@$(BIN)/pytest -n 2 --dist loadfile -q

lint: install
	@$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy && $(BIN)/lint-imports

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) .cache
