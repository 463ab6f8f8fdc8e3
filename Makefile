# Every target creates what it needs: on a fresh clone `make demo` and `make test` are enough.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Generate a sample transactions file, ingest it into the local lake (.lakedrop/) and say where it went.
demo: $(STAMP)
	$(BIN)/lakedrop demo

## Run the test suite (real DuckDB, real Parquet, AWS through moto).
test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) .lakedrop .aws-sam .pytest_cache .mypy_cache .ruff_cache
