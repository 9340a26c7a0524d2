# pve-provision: the two commands a newcomer needs are `make demo` and `make test`.
# Both create .venv themselves; nothing needs installing by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

# Debian packages of the real-parts lab (`provision lab up --real`, tests/real/): installed only
# when running as root on a Debian-like host and only when one of them is missing.
REAL_DEBS := corosync corosync-qnetd corosync-qdevice iproute2 util-linux

.PHONY: venv test lint typecheck unit demo bench clean real-deps

# The runtime install includes the `lab` extra: the demo and the tests run the embedded lab.
$(RUNTIME): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[lab]'
	touch $(RUNTIME)

$(DEV): $(RUNTIME)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,lab]'
	touch $(DEV)

venv: $(DEV)

lint: $(DEV)
	$(BIN)/ruff check provision tests

typecheck: $(DEV)
	$(BIN)/mypy --strict provision

real-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && ! dpkg -s $(REAL_DEBS) >/dev/null 2>&1; then \
		echo "installing Debian packages for the real lab: $(REAL_DEBS)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			$(REAL_DEBS) >/dev/null; \
	fi

# Includes tests/packaging: the wheel is built, installed into a fresh virtualenv
# outside the repository and used from there (lab up, apply, re-plan to zero).
unit: $(DEV) real-deps
	$(BIN)/pytest -q -n 2

test: lint typecheck unit

demo: $(RUNTIME)
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/demo.sh

bench: $(DEV)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/lab_up.py
	PATH="$(abspath $(BIN)):$$PATH" PBS_PASSWORD=bench $(BIN)/python bench/discover_plan.py
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/apply_full_build.py

clean:
	rm -rf $(VENV) .provision .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
