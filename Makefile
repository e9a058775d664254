# Set-up and checks. Everything installs into .venv; nothing else is needed on a fresh machine.
# TORCH_SPEC pins the CPU build that lies on this machine's disk; GPU users: make TORCH_SPEC='torch>=2.3'
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
DEMO_OUT ?= demo_out

.PHONY: install test test-slow test-gpu demo figures lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e '.[dev,ray,slurm]'
	touch $@

test: install
	$(BIN)/pytest -q

test-slow: install
	$(BIN)/pytest -q -m slow

test-gpu: install
	XPROBE_TEST_GPU=1 $(BIN)/pytest -q -m gpu

demo: install
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/xprobe demo --out $(DEMO_OUT)

# the gallery (figures/demo): every paper figure and table the demo's runs support, and the list of the others
figures: demo
	rm -rf figures/demo
	$(BIN)/xprobe figures $(DEMO_OUT) --out figures/demo --formats png

lint: install
	$(BIN)/ruff check xlingual_probe tests benchmarks analyses

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
