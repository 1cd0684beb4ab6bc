VENV ?= .venv
PY := $(VENV)/bin/python
ANIMCLI := $(VENV)/bin/animcli
DEMO_DIR ?= demo-output

.PHONY: install test lint demo clean

install:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The exact torch pin installs the CPU build from local disk; looser specs pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,faces,virtual,ray]'

test:
	$(PY) -m pytest

lint:
	$(VENV)/bin/ruff check src tests benchmarks

demo:
	$(ANIMCLI) demo --out $(DEMO_DIR)

clean:
	rm -rf $(DEMO_DIR) .pytest_cache build dist
