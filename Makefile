# Tollgate — the two commands are `make run` and `make test`; everything else is a helper for them.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install services stop-services lint typecheck clean bench

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "python3 (3.11+) is required"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade uv
	@$(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'
	@touch $(STAMP)

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
