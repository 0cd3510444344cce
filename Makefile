# Journey: `make help` lists the targets.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the inner loop's tests: markers (pyproject.toml) that tests/conftest.py adds from the fixtures used
FAST   := not slow and not faults and not trained and not real_data and not disk and not postgres and not redis

.DEFAULT_GOAL := help
.PHONY: help install demo serve check test lint results bench lock clean

help: ## Show this list of targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP) ## Create .venv from the pinned versions in requirements.txt
	@echo "installed into $(VENV) ($$($(BIN)/python --version))"

demo: install ## Run the whole job on ~20k generated customers, then call the served API
	$(BIN)/journey demo

serve: install ## Serve the champion models on http://127.0.0.1:3000 (foreground)
	$(BIN)/journey serve

check: lint ## The inner loop: lint, then the fast tests (no trained project, files, real data or services)
	$(BIN)/pytest -m "$(FAST)"

test: install ## Run the test suite (offline, generated data)
	$(BIN)/pytest

lint: install ## ruff check, ruff format --check, mypy, import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

results: install ## Train and evaluate on generated and real data; writes docs/results.md
	$(BIN)/python -m pipelines.results

bench: install ## Run the benchmarks; figures go to benchmarks/results/
	$(BIN)/python -m benchmarks

lock: install ## Rewrite requirements.txt from the current .venv (no registry URLs)
	@{ echo "# Exact versions Journey is tested with (Python 3.11). Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -v ' @ ' | grep -v '^-e'; } > requirements.txt

clean: ## Remove generated data, outputs and caches (keeps .venv)
	rm -rf .journey outputs .pytest_cache .mypy_cache .ruff_cache
