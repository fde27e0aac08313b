# Fresh-machine entry points.  Both create a local virtualenv (.venv) and
# install symdiff into it, so they need only Python >= 3.10 and pip.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test lint install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,examples,dask]'

# The main job: differentiate, compile and compare on the lectures' example.
demo: install
	$(BIN)/symdiff demo

test: install-test
	$(BIN)/python -m pytest tests

# Lint (ruff, configured in pyproject.toml); CI runs it after the tests.
lint: install-test
	$(BIN)/ruff check .

bench: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench,plot]'
	$(BIN)/python benchmarks/bench_build.py

clean:
	rm -rf $(VENV) build *.egg-info
