# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?= 3.3.2
PY_MINOR := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
CONSTRAINTS := constraints/airflow-$(AIRFLOW_VERSION)-py$(PY_MINOR).txt
# Pin every transitive dependency where we have measured a constraints file for this Python.
CONSTRAINT_ARGS := $(if $(wildcard $(CONSTRAINTS)),-c $(CONSTRAINTS),)
PIP := $(VENV)/bin/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint bench test-distributed clean

$(VENV)/.installed: pyproject.toml $(wildcard constraints/*.txt)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install $(CONSTRAINT_ARGS) "apache-airflow==$(AIRFLOW_VERSION)" -e .
	touch $@

# One pip run for the test install (not base then extras): resolving Airflow twice costs a minute.
$(VENV)/.installed-test: pyproject.toml $(wildcard constraints/*.txt)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install $(CONSTRAINT_ARGS) "apache-airflow==$(AIRFLOW_VERSION)" -e ".[test,distributed]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/python scripts/demo.py

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest

# The measured scenarios of benchmarks/RESULTS.md: one table, our figures next to a naive baseline.
bench: $(VENV)/.installed-test
	$(VENV)/bin/python -m benchmarks.run

# The Celery deployment alone (it is part of `make test` too when PostgreSQL and Redis are reachable).
test-distributed: $(VENV)/.installed-test
	$(VENV)/bin/python -m pytest -m distributed tests/distributed

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .demo build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
