# netflow: the README's two commands are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck unit run evaluate-sample clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip==25.3"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[airflow,dev]"
	@touch $(STAMP)

lint: install
	$(BIN)/ruff check netflow tests dags plugins
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

test: install lint typecheck
	$(BIN)/pytest -q

unit: install
	$(BIN)/pytest -q tests/unit

run: install
	$(BIN)/netflow evaluate examples/patients.jsonl --as-of $$(date +%F)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
