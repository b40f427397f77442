# rxstream: `make demo` serves the live dashboard on the bundled session, `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install bench lint clean

# The package alone for the demo; with its test extras (pytest, hypothesis, playwright...) for the tests.
$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/rxstream demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/ibkr.py
	$(BIN)/python benchmarks/fanout.py

lint: $(VENV)/.installed-test
	$(BIN)/pip install --quiet ruff mypy
	$(BIN)/ruff check rxstream pipelines tests benchmarks
	$(BIN)/mypy rxstream

clean:
	rm -rf $(VENV) build *.egg-info
