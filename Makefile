# The README's two commands: `make demo` and `make test`.
# Both create the virtual environment they need; only Python 3 (3.10+) and make are required.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PYTEST_ARGS ?=
# Tests in parallel (pytest-xdist); PYTEST_XDIST= runs them in one process.  One worker more than
# cores: many slow tests wait on sleeping servers, timers or child processes, and a third worker on
# 2 cores used some of that time (the main pass took 3:00 and 3:16 against 3:26 with one worker per
# core, on this 2-core machine while others loaded it).  Whole files
# go to one worker (module fixtures) in the order tests/conftest.py gives: long files first.
NPROC := $(shell nproc 2>/dev/null || echo 2)
PYTEST_XDIST ?= -n $(shell expr $(NPROC) + 1) --dist loadfile --no-loadscope-reorder

.PHONY: demo test test-es9 bench lint format clean es-start es-stop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Re-install when setup.py changes.
$(VENV)/.installed: setup.py | $(BIN)/python
	$(PIP) install --quiet -e '.[ner,test,dask]'
	touch $@

# `newsbeam demo` starts the embedded server itself unless one already answers.
demo: $(VENV)/.installed
	$(BIN)/newsbeam demo

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)
	$(MAKE) test-es9

# The Elasticsearch tests again with the 9.x client (for Elasticsearch 9 clusters), against
# the same embedded server.  Only the client and its transport differ, so they are installed
# into a small folder laid over the main virtual environment with PYTHONPATH (no second venv).
ES9_DIR := .es9-client
ES9_ENV := PYTHONPATH=$(CURDIR)/$(ES9_DIR)
$(ES9_DIR)/.installed: setup.py | $(VENV)/.installed
	rm -rf $(ES9_DIR)
	$(PIP) install --quiet --no-deps --target $(ES9_DIR) 'elasticsearch>=9,<10' 'elastic-transport>=9,<10' sniffio
	$(ES9_ENV) $(BIN)/python -c "import elasticsearch as e, sys; print('elasticsearch client', e.__versionstr__); sys.exit(e.__version__[0] != 9)"
	touch $@

# Only the tests marked es_client: between them every kind of request the product sends (setup,
# bulk and its failures, lookups, story updates, the lease, search, status, a whole run); the
# other Elasticsearch tests exercise the pipeline around the same calls.
test-es9: $(ES9_DIR)/.installed
	$(ES9_ENV) $(BIN)/python -m pytest -m "es and es_client" -q $(PYTEST_XDIST) $(PYTEST_ARGS)

# bench/throughput.py needs the bench extra (matplotlib, psutil).
bench: $(VENV)/.installed
	$(PIP) install --quiet -e '.[ner,test,bench]'
	$(BIN)/python bench/run_all.py

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

es-start: $(VENV)/.installed
	$(BIN)/newsbeam es start

es-stop: $(VENV)/.installed
	$(BIN)/newsbeam es stop

clean:
	rm -rf $(VENV) $(ES9_DIR) build *.egg-info .pytest_cache .ruff_cache
