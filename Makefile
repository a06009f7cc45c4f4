# The commands of the README: `make demo`, `make check` and `make test`. Each builds .venv on
# first use, from uv.lock (`make lock` after changing the dependencies in pyproject.toml).
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: install demo serve check test pytest lint bench stress lock clean kubectl

UV_VERSION := 0.13.9

# Exactly the versions of uv.lock, every extra (server, pandas, polars, dev), headrace itself
# editable. --inexact: uv keeps itself and pip in the venv.
$(STAMP): pyproject.toml uv.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet 'uv==$(UV_VERSION)'
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --quiet --frozen --inexact --all-extras
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/headrace demo

serve: $(STAMP)
	$(BIN)/headrace serve

# The fast tier: lint, types and every test without a tier mark (pyproject.toml lists the
# marks, tests/conftest.py applies them): no browser, PostgreSQL, faults, fuzzing or extra
# headrace processes, so it needs nothing running.
FAST := not (browser or faults or fuzz or postgres or slow)
check: $(STAMP) lint kubectl
	$(BIN)/pytest -n 2 -m "$(FAST)" tests

test: $(STAMP) lint kubectl
	scripts/postgres-up
	$(BIN)/pytest -n 2 tests

pytest: $(STAMP)
	scripts/postgres-up
	$(BIN)/pytest -n 2 tests

# tests/execution/argo/test_deploy.py renders deploy/ with `kubectl kustomize`.
kubectl:
	@command -v kubectl >/dev/null || apt-get install -y --no-install-recommends kubernetes-client \
		|| (apt-get update && apt-get install -y --no-install-recommends kubernetes-client)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

# The reliability suites in their long form (docs/reliability.md); the bounded form runs in `make test`.
stress: $(STAMP)
	scripts/postgres-up
	HEADRACE_STRESS=1 $(BIN)/pytest -n 2 tests

lock: $(STAMP)
	$(BIN)/uv lock

clean:
	rm -rf $(VENV) .headrace .headrace-demo .pytest_cache .mypy_cache .ruff_cache
