# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit e2e faults browser proxy faketime bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Rota needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

## run: install, then start the embedded server, two workers and the dashboard
run: $(STAMP)
	$(BIN)/rota dev --workers 2 --demo

## test: install, then lint, type-check and run every test (two processes, a file each at a time:
## most of the time goes to waiting on real servers, workers and browsers)
test: $(STAMP) browser proxy faketime lint typecheck
	$(BIN)/pytest -n 2 --dist loadfile --reruns 1 --only-rerun "Connect(Error|ionRefusedError)"

## browser: Debian's Chromium for the dashboard's browser tests (skipped if present)
browser:
	@if [ -z "$$ROTA_TEST_CHROMIUM" ]; then scripts/install-chromium; fi

## proxy: Debian's nginx for the test of two servers behind a proxy (skipped if present)
proxy:
	@if [ -z "$$ROTA_TEST_NGINX" ]; then scripts/install-nginx; fi

## faketime: Debian's libfaketime for the fault test that steps the server's clock
faketime:
	@if [ -z "$$ROTA_TEST_FAKETIME" ]; then scripts/install-faketime; fi

## faults: the fault suite alone (root, for the network namespace), then docs/reliability.md
faults: $(STAMP) faketime
	$(BIN)/pytest -m faults
	$(BIN)/python scripts/reliability_report.py

## bench: every workload of `rota bench` on a temporary SQLite file (docs/performance.md)
bench: $(STAMP)
	$(BIN)/rota bench

lint: $(STAMP)
	$(BIN)/ruff check src tests examples
	$(BIN)/ruff format --check src tests examples

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/contract

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
