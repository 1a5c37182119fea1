# Two commands set everything up on a fresh machine:
#   make demo   installs, generates synthetic London, ingests it, computes the definitions, serves the web app
#   make test   installs the test dependencies and runs the whole test suite
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PATIENTS ?= 20000
SEED ?= 42
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-test demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .
	./scripts/install-frontend.sh

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	./scripts/install-frontend.sh
	./scripts/install-browser.sh

demo: install
	$(BIN)/carecommons demo --patients $(PATIENTS) --seed $(SEED) --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	./scripts/run-tests.sh

lint: $(BIN)/python
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

clean:
	rm -rf var .pytest_cache test-artifacts
