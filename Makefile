# `make demo` and `make test` do all the setup on a fresh clone: they create .venv unless a virtualenv is active.
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(if $(VIRTUAL_ENV),python,$(VENV)/bin/python)
STAMP := $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),$(VENV))/.sb3-reinforce-installed
PYTEST_ARGS ?=

.PHONY: setup demo test lint type format check-codestyle

$(STAMP): pyproject.toml
	@if [ -z "$(VIRTUAL_ENV)" ] && [ ! -x "$(VENV)/bin/python" ]; then python3 -m venv $(VENV); fi
	# A CPU build of torch first: torch==2.13.0 installs the CPU build from local disk where one is provided,
	# so that nothing below pulls a multi-GB CUDA build.
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==2.13.0" || $(PYTHON) -m pip install torch
	$(PYTHON) -m pip install -e ".[tests,zoo]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PYTHON) -m sb3_reinforce.demo

test: setup
	$(PYTHON) -m pytest tests -n 2 $(PYTEST_ARGS)

lint: setup
	$(PYTHON) -m ruff check sb3_reinforce tests benchmarks

format: setup
	$(PYTHON) -m ruff format sb3_reinforce tests benchmarks
	$(PYTHON) -m ruff check --fix sb3_reinforce tests benchmarks

type: setup
	$(PYTHON) -m mypy sb3_reinforce benchmarks
