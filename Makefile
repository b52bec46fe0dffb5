# The README's two commands: `make demo` and `make test`.
# Both create the virtual environment they need; only Python 3 (3.10+) and make are required.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PYTEST_ARGS ?=

.PHONY: demo test test-es9 bench lint format clean es-start es-stop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Re-install when setup.py changes.
$(VENV)/.installed: setup.py | $(BIN)/python
	$(PIP) install --quiet -e '.[ner,test]'
	touch $@

# `newsbeam demo` starts the embedded server itself unless one already answers.
demo: $(VENV)/.installed
	$(BIN)/newsbeam demo

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) test-es9

# The Elasticsearch tests again with the 9.x client (for Elasticsearch 9 clusters),
# against the same embedded server.
ES9_VENV := .venv-es9
$(ES9_VENV)/.installed: setup.py
	$(PYTHON) -m venv $(ES9_VENV)
	$(ES9_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(ES9_VENV)/bin/python -m pip install --quiet -e '.[ner,test]'
	# newsbeam pins the 8.x client by default; switch it as the README says for ES 9 clusters.
	# (pip warns that newsbeam asks for <9: that is the switch.)
	$(ES9_VENV)/bin/python -m pip install --quiet 'elasticsearch>=9,<10' 2>/dev/null
	$(ES9_VENV)/bin/python -c "import elasticsearch as e, sys; print('elasticsearch client', e.__versionstr__); sys.exit(e.__version__[0] != 9)"
	touch $@

test-es9: $(ES9_VENV)/.installed
	$(ES9_VENV)/bin/python -m pytest -m es -q $(PYTEST_ARGS)

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
	rm -rf $(VENV) $(ES9_VENV) build *.egg-info .pytest_cache .ruff_cache
