# Two entry points, each self-contained on a fresh machine:
#   make run    set up (venv, pinned packages, Fashion-MNIST) and run the quick preset
#   make test   set up and run the test suite (make test-fast: without the end-to-end workflow tests)
# Both are idempotent and quiet when everything is already in place.

PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
FMNIST_DIR ?= /usr/share/datasets/fashion-mnist
SNAKEMAKE_ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run verify test test-fast test-sweep setup data lint format check-config dry-run report clean-results gpu-check docs

run: setup data
	$(BIN)/snakemake --cores $(CORES) all $(SNAKEMAKE_ARGS)
	@$(BIN)/python -m fal.stats.verify --study quick

# Compare the regenerated quick reports (reports/quick/) with the committed reference
# (reports/reference/quick/): identical, or by how much against the seed spread, with the likely reason
# (fal/stats/verify.py; docs/running.md, "Verifying").
verify: setup
	$(BIN)/python -m fal.stats.verify --study quick

test: setup data
	$(BIN)/python -m pytest -q tests

# Everything but the end-to-end workflow tests (marked `workflow`): under 2 minutes, the loop while editing fal/.
test-fast: setup data
	$(BIN)/python -m pytest -q -m "not workflow" tests

# Every configuration change of tests/workflow/test_config_reruns.py (CI runs two): about 1.5-2.5 minutes
# per change on 2 cores, over an hour for all 44; prints the over- and under-trigger counts per change.
test-sweep: setup data
	FAL_SWEEP=all $(BIN)/python -m pytest -q -s tests/workflow/test_config_reruns.py

setup: $(STAMP)

# Reinstall only when the dependency pins change.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing pinned dependencies into $(VENV) (first time: a few minutes)..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[workflow,test]"
	@touch $@

# Debian's dataset-fashion-mnist holds the real Fashion-MNIST IDX files (offline).
data:
	@if [ ! -f $(FMNIST_DIR)/train-images-idx3-ubyte.gz ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's dataset-fashion-mnist..."; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; }; \
	  else \
	    echo "Fashion-MNIST not found in $(FMNIST_DIR). Either run 'sudo apt-get install dataset-fashion-mnist'"; \
	    echo "(Debian/Ubuntu), or let the workflow download it with torchvision (needs internet; data.download: true)."; \
	  fi; \
	fi

# Style, type and workflow checks (CI runs these before the tests): ruff (lint + format), snakefmt,
# snakemake --lint, mypy (fal/ and workflow/scripts/, pyproject's [tool.mypy]), generated docs up to date.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint --workflow-profile none
	$(BIN)/mypy
	$(BIN)/python -m fal.plan.docs --check

# Rewrite the generated blocks of docs/ (method options, paper catalog, datasets) from the declarations.
docs: setup
	$(BIN)/python -m fal.plan.docs

# Apply the formatters (what `make lint` checks).
format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt .

# Check config.yaml with override files merged in, before a run (names the file, line and key):
#   make check-config CONFIGFILES="my-study.yaml"
CONFIGFILES ?=
check-config: setup
	$(BIN)/python -m fal.plan.check $(CONFIGFILES)

dry-run: setup
	$(BIN)/snakemake -n --cores $(CORES) all $(SNAKEMAKE_ARGS)

report: setup
	$(BIN)/snakemake --cores $(CORES) --workflow-profile none --report reports/report.html all $(SNAKEMAKE_ARGS)

clean-results:
	rm -rf results .snakemake

# The GPU path in one command with its own time budget (benchmarks/gpu_check.py; docs/cluster.md, "GPU check").
# Needs no install step: it uses .venv when present, else the machine's python3 with its own torch.
#   make gpu-check                                            # GPU machine: full check, 420 s budget
#   make gpu-check GPU_CHECK_ARGS="--device cpu --smoke"      # CPU smoke mode (CI), under a minute
GPU_CHECK_ARGS ?=
GPU_CHECK_OUT ?= reports/gpu/$(shell date +%Y-%m-%d)
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
gpu-check:
	$(GPU_PYTHON) benchmarks/gpu_check.py --out $(GPU_CHECK_OUT) $(GPU_CHECK_ARGS)
