# rxstream: `make demo` serves the live dashboard on the bundled session, `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# ib_async (ib_insync's maintained fork) gets an environment of its own: the two libraries both ship
# a top-level `eventkit` and must never share one. `make test-ib_async` runs the broker tests there.
VENV_IB_ASYNC ?= .venv-ib_async
BROKER_TESTS  := tests/test_tws_*.py tests/test_ibkr_*.py

# Held to mypy --strict: the gateway, the engine and what wires them.
STRICT := rxstream/gateway rxstream/engine.py rxstream/health.py rxstream/bus.py rxstream/backend.py rxstream/wiring.py

.PHONY: demo test test-ib_async install bench lint clean

# The package alone for the demo; with its test extras (pytest, hypothesis, playwright...) for the tests.
$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[ib_insync]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,ib_insync]'
	touch $@

$(VENV_IB_ASYNC)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV_IB_ASYNC)
	$(VENV_IB_ASYNC)/bin/pip install --quiet --upgrade pip
	$(VENV_IB_ASYNC)/bin/pip install --quiet -e '.[test,ib_async]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/rxstream demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# The simulator and IBKR feed tests again, under ib_async instead of ib_insync.
test-ib_async: $(VENV_IB_ASYNC)/.installed
	$(VENV_IB_ASYNC)/bin/python -m pytest $(BROKER_TESTS)

# The scale-out benchmark starts its own redis-server and needs the redis extra (in the test extras).
bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/ibkr.py
	$(BIN)/python benchmarks/fanout.py
	$(BIN)/python benchmarks/scaleout.py
	$(BIN)/python benchmarks/backtest.py

lint: $(VENV)/.installed-test
	$(BIN)/pip install --quiet ruff mypy
	$(BIN)/ruff check rxstream pipelines tests benchmarks
	$(BIN)/mypy rxstream
	$(BIN)/mypy --strict --follow-imports=silent $(STRICT)

clean:
	rm -rf $(VENV) $(VENV_IB_ASYNC) build *.egg-info
