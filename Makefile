# pve-provision: the two commands a newcomer needs are `make demo` and `make test`.
# Both create .venv themselves; nothing needs installing by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: venv test lint typecheck unit demo bench clean sysdeps

$(RUNTIME): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(DEV)

venv: $(DEV)

# Debian packages the tool runs on the controller: ifupdown2 (apply checks every staged
# interfaces file with `ifup -a -s -i FILE`). Installed only when missing and when root;
# /run/network holds ifupdown2's lock (a node has it from boot, a container may not).
sysdeps:
	@if ! ifup --version 2>/dev/null | grep -q ifupdown2; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q ifupdown2 >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q ifupdown2 >/dev/null; }; \
	  else echo "note: ifupdown2 is not installed (not root): the interfaces syntax checks cannot run" >&2; fi; \
	fi
	@if [ "$$(id -u)" = 0 ]; then mkdir -p /run/network; fi

lint: $(DEV)
	$(BIN)/ruff check provision tests

typecheck: $(DEV)
	$(BIN)/mypy --strict provision

unit: $(DEV) sysdeps
	$(BIN)/pytest -q

test: lint typecheck unit

demo: $(RUNTIME) sysdeps
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/demo.sh

bench: $(DEV)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/lab_up.py
	PATH="$(abspath $(BIN)):$$PATH" PBS_PASSWORD=bench $(BIN)/python bench/discover_plan.py
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/apply_full_build.py

clean:
	rm -rf $(VENV) .provision .pytest_cache .mypy_cache .ruff_cache
