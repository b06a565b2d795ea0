# crystal_lab: the two commands of the README.
#
#   make lab    set up .venv (CPU torch + the package + test tools), then open JupyterLab on notebooks/
#   make test   set up the same .venv, then run the whole test suite (unit tests, the notebooks
#               under nbval, the browser tests in headless Chromium)
#
# GPU users: create .venv and install the torch build you want into it first
#   python3 -m venv .venv && .venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cu126
# (make never reinstalls a torch that imports), or pass TORCH="torch==X --index-url ...".

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build: this machine's pip finds a local wheel of torch 2.13.0 (CPU); a plain
# "pip install torch" on Linux pulls a multi-GB CUDA build instead.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.crystal-lab-installed

# The test suite: nbval compares stored outputs strictly, except the output types that
# tests/conftest.py skips and the values tests/nbval_sanitize.cfg masks; the notebooks read
# CRYSTAL_LAB_CI=1 and run small.
export CRYSTAL_LAB_CI ?= 1
export CRYSTAL_LAB_DATA ?= $(abspath ../shared/data)
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 900
PYTEST_ARGS ?= tests $(wildcard notebooks) $(NBVAL) -ra --durations=15

.PHONY: lab test install chromium

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e ".[test]"
	@touch $@

lab: install
	$(BIN)/crystal-lab lab

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	elif command -v sudo >/dev/null; then \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "make: no /usr/bin/chromium and no root to install it: the browser tests will fail"; fi

# pytest's exit status is make's: 5 ("no tests ran") fails like any other non-zero status.
test: install chromium
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests: failing"; fi; exit $$rc

# The class-hub load test (issue 15, docs/deploy.md; NOT part of make test): a real JupyterHub on
# 127.0.0.1 (deploy/jupyterhub_config.py, dummy login, local process spawner), N students driven
# over the Jupyter server API, then the recipe end to end in headless Chromium. Installs the hub
# into build/hub (git-ignored). Bounded: at most 14 minutes of load test plus 2 for the browser.
LOADTEST := $(BIN)/python benchmarks/loadtest/run.py
.PHONY: loadtest
loadtest: install chromium
	PROJECT_VENV=$(abspath $(VENV)) benchmarks/loadtest/setup.sh
	$(LOADTEST) --n 1 2 4 8 16 --phases setup generate --budget 600 --out benchmarks/results/loadtest.json --plot build/hub/sweep.png
	$(LOADTEST) --n 1 2 --threads default --phases setup generate --budget 120 --out benchmarks/results/loadtest_threads.json --plot build/hub/threads.png
	$(LOADTEST) --n 1 --budget 120 --out benchmarks/results/loadtest_summarize.json --plot build/hub/summarize.png
	$(BIN)/python benchmarks/loadtest/report.py benchmarks/results/loadtest.json benchmarks/results/loadtest_threads.json benchmarks/results/loadtest_summarize.json --plot assets/loadtest.png
	$(BIN)/python benchmarks/loadtest/browser_check.py
