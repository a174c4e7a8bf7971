# Two commands matter: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-base
# pytest-xdist workers; CI machines have 2 cores.
WORKERS ?= auto

.PHONY: demo test lint install install-train clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

install: $(STAMP)

# The training extra: torch is pinned to the CPU build that lies on local disk; a plain `torch`
# would pull a multi-GB CUDA build. Install it first, then the rest of the extra.
install-train: $(STAMP)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[train]'

demo: $(STAMP)
	$(BIN)/aoi sim tour

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(WORKERS) -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
