# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?= 3.3.2
PY_MINOR := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
CONSTRAINTS := constraints/airflow-$(AIRFLOW_VERSION)-py$(PY_MINOR).txt
# Pin every transitive dependency where we have measured a constraints file for this Python.
CONSTRAINT_ARGS := $(if $(wildcard $(CONSTRAINTS)),-c $(CONSTRAINTS),)
PIP := $(VENV)/bin/python -m pip --disable-pip-version-check -q

.PHONY: demo test docs docs-screenshots system-test lint bench bench-budget test-distributed test-matrix test-browser install-browser clean

$(VENV)/.installed: pyproject.toml $(wildcard constraints/*.txt)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install $(CONSTRAINT_ARGS) "apache-airflow==$(AIRFLOW_VERSION)" -e ".[examples]"
	touch $@

# One pip run for the test install (not base then extras): resolving Airflow twice costs a minute.
$(VENV)/.installed-test: pyproject.toml $(wildcard constraints/*.txt)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install $(CONSTRAINT_ARGS) "apache-airflow==$(AIRFLOW_VERSION)" -e ".[test,distributed,docs]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/python scripts/demo.py

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	env -u TRAFFICSTARS_API_KEY $(VENV)/bin/python -m pytest  # the system test on the emulator, never your account

# The system test (tests/system, Airflow's form: setup, body, teardown, watcher): every read-only hook method
# and a dry-run campaign change in one dag.test() run, against the real API when TRAFFICSTARS_API_KEY is set
# (TRAFFICSTARS_BASE_URL for another host), else against the bundled emulator. Changes nothing on the account.
system-test: $(VENV)/.installed-test
	$(VENV)/bin/python -m pytest tests/system -q -p no:cacheprovider

# The documentation site (docs/, Sphinx + MyST) into build/docs: warnings are errors, every reference must
# resolve (-n). `make test` builds it too (tests/docs/test_docs_build.py).
docs: $(VENV)/.installed-test
	$(VENV)/bin/python -m sphinx -b html -W --keep-going -n -q docs build/docs

# Screenshots of the built site in headless Chromium (the browser extra), into docs/screenshots/.
docs-screenshots: docs $(VENV)/.installed-browser
	$(VENV)/bin/python scripts/docs_screenshots.py build/docs docs/screenshots

# The measured scenarios of benchmarks/RESULTS.md: one table, our figures next to a naive baseline.
bench: $(VENV)/.installed-test
	$(VENV)/bin/python -m benchmarks.run

# Issue 16 only: the account's shared call budget (processes at a barrier, a killed holder, no contention),
# at the real 60 s window, side by side with the old per-process limiter (about 8 minutes).
bench-budget: $(VENV)/.installed-test
	$(VENV)/bin/python -m benchmarks.shared_budget

# The PostgreSQL and Celery tests alone (part of `make test` too; skipped, with the reason, where PostgreSQL
# or Redis is not reachable, and failed instead under CI=true).
test-distributed: $(VENV)/.installed-test
	$(VENV)/bin/python -m pytest tests/distributed

# The browser extra (Playwright; it drives Debian's /usr/bin/chromium, no browser download). With it and
# Chromium present, `make test` also runs the connection-form test in headless Chromium (about 40-60 s);
# without them that test skips, with the reason, or fails under CI=true. .ci/run installs both.
$(VENV)/.installed-browser: $(VENV)/.installed-test
	$(PIP) install $(CONSTRAINT_ARGS) "apache-airflow==$(AIRFLOW_VERSION)" -e ".[browser]"
	touch $@

install-browser: $(VENV)/.installed-browser

# The connection form in a real api-server and headless Chromium, alone (docs/compatibility.md).
test-browser: $(VENV)/.installed-browser
	$(VENV)/bin/python -m pytest -m browser tests/e2e

# The suite on every Airflow version we claim, each in .venv-airflow-<version> (docs/compatibility.md).
# MATRIX_VERSIONS="2.11.2 3.0.6" picks versions; logs and a summary go to build/matrix/.
test-matrix:
	PYTHON=$(PYTHON) scripts/matrix.sh $(MATRIX_VERSIONS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .venv-airflow-* .demo build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
