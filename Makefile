# crystal_lab: the two commands of the README.
#
#   make lab    set up .venv (CPU torch + the package + test tools), then open JupyterLab on notebooks/
#   make test   set up the same .venv, then run the whole test suite (unit tests, the notebooks
#               under nbval, the browser tests in headless Chromium)
#
# Needs python3 with its venv module: on bare Debian/Ubuntu, `apt-get install python3-venv`.
# GPU users: make never reinstalls a torch that imports, so either create .venv with the torch
# build you want first
#   python3 -m venv .venv && .venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cu126
# or name the index: make lab TORCH_INDEX=https://download.pytorch.org/whl/cu126

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch comes first, as a CPU build from PyTorch's CPU wheel index: a plain `pip install torch`
# on Linux pulls the multi-GB CUDA build and about 20 nvidia-* packages. When that index does not
# answer within TORCH_INDEX_TIMEOUT seconds (offline, a firewall, a local mirror only), pip's
# default index (with its configured mirrors and find-links) is used instead.
TORCH ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_INDEX_TIMEOUT ?= 5
STAMP := $(VENV)/.crystal-lab-installed

# One torch thread per process (JupyterLab's kernels and the tests inherit it): with other work
# on the cores, two threads made one sampling call 13-17x slower than one thread
# (benchmarks/bench_threads.py, results/threads.json). Override: make lab OMP_NUM_THREADS=2.
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

# The notebooks run at their workshop defaults: `make lab` (and `crystal-lab lab`, which drops a
# CRYSTAL_LAB_CI left in the shell) serves the course at the size a class meets it. Only the
# test command below sets the CI size (CRYSTAL_LAB_CI=1: seconds per notebook); nbval compares
# stored outputs strictly, except the output types that tests/conftest.py skips and the values
# tests/nbval_sanitize.cfg masks.
CI_SIZE := CRYSTAL_LAB_CI=1
export CRYSTAL_LAB_DATA ?= $(abspath ../shared/data)
# The browser tests check the views on small fixture notebooks; the course notebooks in the
# browser (-m course, `make browser-course`) would run every notebook a second time.
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 900
PYTEST_MARKERS ?= not course
PYTEST_ARGS ?= tests $(wildcard notebooks) $(NBVAL) -m "$(PYTEST_MARKERS)" -ra --durations=15

.PHONY: lab test install venv torch chromium browser-course

install: $(STAMP)

# An editable install skips pyproject's data-files: the JupyterLab setting that saves widget state
# with a notebook (views survive a reload and a reopen) is copied into the venv's prefix by hand.
$(STAMP): pyproject.toml jupyter-settings/crystal-lab.json
	@$(MAKE) --no-print-directory torch
	$(BIN)/python -m pip install -e ".[test]"
	install -D -m 644 jupyter-settings/crystal-lab.json $(VENV)/share/jupyter/lab/settings/overrides.d/crystal-lab.json
	@touch $@

venv:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "make: '$(PYTHON) -m venv' failed: on Debian/Ubuntu install python3-venv (apt-get install python3-venv)" >&2; \
	  exit 1; }

# A torch that imports is kept. The probe is bounded by `timeout`, DNS included.
torch: venv
	@if $(BIN)/python -c "import torch" 2>/dev/null; then exit 0; fi; \
	if timeout $(TORCH_INDEX_TIMEOUT) $(PYTHON) -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1].rstrip('/') + '/torch/', timeout=float(sys.argv[2]))" "$(TORCH_INDEX)" "$(TORCH_INDEX_TIMEOUT)" >/dev/null 2>&1; then \
	  echo "make: installing $(TORCH) from $(TORCH_INDEX)"; \
	  $(BIN)/python -m pip install $(TORCH) --index-url $(TORCH_INDEX); \
	else \
	  echo "make: $(TORCH_INDEX) did not answer within $(TORCH_INDEX_TIMEOUT) s: installing $(TORCH) from pip's default index"; \
	  $(BIN)/python -m pip install $(TORCH); \
	fi

lab: install
	$(BIN)/crystal-lab lab

# Chromium for the browser tests: Playwright drives it and never downloads a browser. Debian's
# package is installed when missing; another binary: CRYSTAL_LAB_CHROMIUM=/path/to/chrome.
# Ubuntu's chromium is a snap that Playwright cannot drive: there, install a deb build (README).
CHROMIUM_APT := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
chromium:
	@chrome="$${CRYSTAL_LAB_CHROMIUM:-/usr/bin/chromium}"; \
	if [ -x "$$chrome" ]; then :; \
	elif [ -n "$$CRYSTAL_LAB_CHROMIUM" ]; then \
	  echo "make: CRYSTAL_LAB_CHROMIUM=$$chrome is not executable: the browser tests will fail" >&2; \
	elif grep -qi '^ID=ubuntu' /etc/os-release 2>/dev/null; then \
	  echo "make: no /usr/bin/chromium; Ubuntu's is a snap: add-apt-repository ppa:xtradeb/apps &&" \
	       "apt-get install --no-install-recommends chromium, or set CRYSTAL_LAB_CHROMIUM (README)" >&2; \
	elif [ "$$(id -u)" = 0 ]; then $(CHROMIUM_APT); \
	elif command -v sudo >/dev/null; then sudo bash -c '$(CHROMIUM_APT)'; \
	else echo "make: no /usr/bin/chromium and no root to install it: the browser tests will fail" >&2; fi

# pytest's exit status is make's: 5 ("no tests ran") fails like any other non-zero status.
test: install chromium
	@$(CI_SIZE) $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests: failing"; fi; exit $$rc

# Every course notebook Run All in JupyterLab + Chromium (about as long as nbval's run of them);
# with CRYSTAL_LAB_UPDATE_ASSETS=1 it refreshes the README's screenshots in assets/.
browser-course: install chromium
	$(CI_SIZE) $(BIN)/python -m pytest tests/test_browser.py -m course -ra

# The class-hub load test (docs/deploy.md; NOT part of make test): a real JupyterHub on
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
