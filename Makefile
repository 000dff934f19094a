# Two commands set everything up on a fresh machine with Python 3.11:
#   make demo   - create .venv, install, run the demo on bundled data
#   make test   - create .venv, install, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of this torch release is installed when the environment has no torch at all; the package itself
# asks for a range, so users keep the torch they have.
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.dnaestim-installed
PYTEST_ARGS ?=
# Test processes (pytest-xdist): one per core; tests/conftest.py gives each its share of the threads.
TEST_WORKERS ?= auto

.PHONY: demo test docs bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "$(TORCH_PIN)"
	$(PY) -m pip install -e ".[test,docs]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m dnaestim demo

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

bench: $(STAMP)
	$(PY) benchmarks/tokenizer.py

clean:
	rm -rf docs/_build docs/auto_examples docs/generated .pytest_cache
