# Tollgate — the two commands are `make run` and `make test`; everything else is a helper for them.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lock install services stop-services lint typecheck clean bench console console-check

# The web console (console/): npm ci from the committed lockfile, then a Vite build into
# console/dist, which the API serves at `/`. Each step re-runs only when its inputs change.
CONSOLE_DEPS := console/node_modules/.installed
CONSOLE_BUILT := console/dist/.built
CONSOLE_SRC := $(shell find console/src -type f 2>/dev/null) console/index.html \
	console/vite.config.ts console/tsconfig.json

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

$(CONSOLE_DEPS): console/package.json console/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js >= 20.19) is required to build the console"; exit 1; }
	@cd console && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(CONSOLE_BUILT): $(CONSOLE_DEPS) $(CONSOLE_SRC)
	@cd console && npm run --silent build -- --logLevel warn
	@touch $@

console: $(CONSOLE_BUILT)

console-check: $(CONSOLE_DEPS)
	@cd console && npm run --silent lint && npm run --silent typecheck && npx vitest run --silent

services: install
	@$(BIN)/tollgate stores start

stop-services: install
	@$(BIN)/tollgate stores stop

## Run the whole product: stores, migrations, demo org, API + gateway + workers + scheduler.
run: services console
	@$(BIN)/tollgate migrate
	@$(BIN)/tollgate run --demo

## Run the whole test suite against real services.
test: install console console-check
	@bash scripts/ensure-browser.sh
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy
	@$(BIN)/lint-imports
	@$(BIN)/pytest -n 2 --dist loadfile -q

lint: install
	@$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy && $(BIN)/lint-imports

bench: install
	@for b in bench/*.py; do echo "== $$b"; PYTHONPATH=$(CURDIR) $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) .cache console/node_modules console/dist
