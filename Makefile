# `make demo` and `make test` do all the setup on a fresh clone: they create .venv unless a virtualenv is active.
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(if $(VIRTUAL_ENV),python,$(VENV)/bin/python)
STAMP := $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),$(VENV))/.sb3-reinforce-installed
PYTEST_ARGS ?=
# torch is installed first, and only if the environment cannot import it yet, so that nothing below picks the build.
# TORCH is the requirement given to pip; TORCH_INDEX, if set, is passed as pip's --index-url.
# The default, `pip install torch==2.13.0` from pip's configured indexes, installs whatever build they serve first:
# from PyPI on Linux that is the CUDA build (several GB); a machine whose pip is set up with a local CPU wheel gets it.
# A CPU-only build elsewhere:  make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
# A given CUDA build:          make setup TORCH_INDEX=https://download.pytorch.org/whl/cuXYZ (see pytorch.org)
# Any torch >= 2.3 works:      make setup TORCH="torch>=2.3"
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: setup demo test test-fast lint type format check-codestyle

$(STAMP): pyproject.toml
	@if [ -z "$(VIRTUAL_ENV)" ] && [ ! -x "$(VENV)/bin/python" ]; then python3 -m venv $(VENV); fi
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(PYTHON) -m pip install -e ".[tests,zoo,extra,benchmarks,onnx]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PYTHON) -m sb3_reinforce.demo

# The package's tests and the benchmark harness's (whose analysis needs the `benchmarks` extra: rliable)
TESTS := tests benchmarks/tests

# One torch thread per pytest worker: 2 workers on 2 cores, without oversubscribing them
test: setup
	OMP_NUM_THREADS=1 $(PYTHON) -m pytest $(TESTS) -n 2 $(PYTEST_ARGS)

# Everything but the tests marked slow (each over about 10 s: learning runs, the exact gradient, the Zoo end to end,
# subprocess envs)
test-fast: setup
	OMP_NUM_THREADS=1 $(PYTHON) -m pytest $(TESTS) -n 2 -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(PYTHON) -m ruff check sb3_reinforce tests benchmarks

format: setup
	$(PYTHON) -m ruff format sb3_reinforce tests benchmarks
	$(PYTHON) -m ruff check --fix sb3_reinforce tests benchmarks

type: setup
	$(PYTHON) -m mypy sb3_reinforce benchmarks
