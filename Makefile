# pve-provision: the two commands a newcomer needs are `make demo` and `make test`.
# Both create .venv themselves; nothing needs installing by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: venv sysdeps test lint typecheck unit demo bench clean

# The lab mounts each node's /etc/pve through FUSE (provision/lab/pmxcfs.py): Debian's
# fuse3 brings libfuse3 and fusermount3. Installed only when missing, and only as root.
sysdeps:
	@if ! command -v fusermount3 >/dev/null 2>&1 || ! ldconfig -p 2>/dev/null | grep -q 'libfuse3\.so'; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse3 >/dev/null; \
	  else \
	    echo "the lab needs fuse3 (libfuse3 + fusermount3): run 'apt-get install fuse3' as root" >&2; \
	  fi; \
	fi

$(RUNTIME): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e .
	touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(DEV)

venv: $(DEV)

lint: $(DEV)
	$(BIN)/ruff check provision tests

typecheck: $(DEV)
	$(BIN)/mypy --strict provision

unit: $(DEV) sysdeps
	$(BIN)/pytest -q

test: lint typecheck unit

demo: $(RUNTIME) sysdeps
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/demo.sh

bench: $(DEV) sysdeps
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/lab_up.py
	PATH="$(abspath $(BIN)):$$PATH" PBS_PASSWORD=bench $(BIN)/python bench/discover_plan.py
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/apply_full_build.py

clean:
	rm -rf $(VENV) .provision .pytest_cache .mypy_cache .ruff_cache
