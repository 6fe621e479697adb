# netflow: the README's two commands are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser test lint typecheck unit run bench fuzz clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip==25.3"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[airflow,celery,dev]"
	@touch $(STAMP)

lint: install
	$(BIN)/ruff check netflow netflow_airflow tests dags plugins bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# The browser test drives Debian's Chromium (never a downloaded browser).
browser:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null; }

test: install browser lint typecheck
	$(BIN)/pytest -q

unit: install
	$(BIN)/pytest -q tests/unit

# make run EXECUTOR=celery WORKERS=2: the CeleryExecutor with 2 workers on this machine's Redis and PostgreSQL.
run: install
	@EXECUTOR="$(EXECUTOR)" WORKERS="$(WORKERS)" scripts/run.sh

# Long fuzz runs of the importers and the teams loader (CI runs a short version in make test).
fuzz: install
	NETFLOW_FUZZ_EXAMPLES=2000 $(BIN)/pytest -q tests/hardening/test_fuzz_import.py tests/hardening/test_fuzz_teams.py

# Performance figures (never timed tests): writes bench/results.md and bench/results.json.
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
