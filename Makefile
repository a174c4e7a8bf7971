# Two commands matter: `make demo` and `make test`. Both create .venv and install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-base
# pytest-xdist workers; CI machines have 2 cores.
WORKERS ?= auto
# Node tools for the tests (package.json: the MCP Inspector CLI), installed from package-lock.json.
NODE_STAMP := node_modules/.installed

.PHONY: demo test lint install install-node install-train clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

install: $(STAMP)

# Without npm the Inspector test skips and says why; with npm, a failed install fails the build.
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm not found: tests/probe/test_protocol.py will skip the MCP Inspector CLI test"; \
	fi

install-node: $(NODE_STAMP)

# The training extra: torch is pinned to the CPU build that lies on local disk; a plain `torch`
# would pull a multi-GB CUDA build. Install it first, then the rest of the extra (torch pinned again).
# `make test` installs it too (about a minute): the hf policy's tests run a tiny model built offline.
TRAIN_STAMP := $(VENV)/.installed-train
$(TRAIN_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q torch==2.13.0 -e '.[train]'
	@touch $@

install-train: $(TRAIN_STAMP)

demo: $(STAMP)
	$(BIN)/aoi demo

test: $(STAMP) $(TRAIN_STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(WORKERS) -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info node_modules
