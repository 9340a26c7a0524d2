# pve-provision: the two commands a newcomer needs are `make demo` and `make test`.
# Both create .venv themselves; nothing needs installing by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

# Debian packages the lab and the tests run (installed only when one is missing, and only
# as root on a Debian-like host; elsewhere a note says what is missing):
# - fuse3: the lab mounts each node's /etc/pve through FUSE with pmxcfs's rules;
# - corosync, corosync-qnetd, corosync-qdevice, iproute2, util-linux: `lab up --real`
#   (real knet/votequorum and qnetd in network namespaces; tests/real);
# - ifupdown2: apply checks every staged interfaces file with `ifup -a -s -i FILE`;
# - ceph-mon, ceph-mgr, ceph-osd, ceph-common: `lab up --real-ceph` (real MONs, MGRs and
#   BlueStore OSDs on sparse files; tests/real/test_real_ceph.py). No recommends: ceph-base
#   would pull in ceph-mds, chrony and btrfs-progs, which the lab does not use.
SYS_DEBS := fuse3 corosync corosync-qnetd corosync-qdevice iproute2 util-linux ifupdown2 \
	ceph-mon ceph-mgr ceph-osd ceph-common

.PHONY: venv sysdeps test lint typecheck unit demo bench bench-smoke docs clean

# The runtime install includes the `lab` extra: the demo and the tests run the embedded lab.
# --no-compile: pip byte-compiles file by file on one core; COMPILE does the same on every
# core right after. The bytecode has to be written at install time: with
# PYTHONDONTWRITEBYTECODE set (this project's build machines set it) no run ever writes it, and every
# `provision`, `ansible-playbook` and lab node command would compile pydantic, typer, rich
# and ansible-core from source again (~1 s of CPU per process). A file that does not compile
# (test data shipped inside a package) is skipped: bytecode only saves time.
PIP_INSTALL := $(BIN)/pip install --quiet --disable-pip-version-check --no-compile
COMPILE := $(BIN)/python -m compileall -q -j 0 $(VENV)/lib provision >/dev/null 2>&1 || true

$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[lab]'
	$(COMPILE)
	touch $(RUNTIME)

# One pip run for the dev set (it holds the runtime set), so a fresh clone resolves and
# installs once; it stands for the runtime install too.
$(DEV): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP_INSTALL) -e '.[dev,lab]'
	$(COMPILE)
	touch $(RUNTIME) $(DEV)

venv: $(DEV)

# One apt-get run for only the missing packages.
sysdeps:
	@missing=$$(for p in $(SYS_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      $$missing >/dev/null; \
	  else \
	    echo "note:" $$missing "are missing and this is not root: install them with apt-get" >&2; \
	  fi; \
	fi
	@if [ "$$(id -u)" = 0 ]; then mkdir -p /run/network; fi

lint: $(DEV)
	$(BIN)/ruff check provision tests

typecheck: $(DEV)
	$(BIN)/mypy --strict provision

# Includes tests/packaging: the wheel is built, installed into a fresh virtualenv
# outside the repository and used from there (lab up, apply, re-plan to zero).
# Three workers on two cores: the end-to-end tests spend much of their time waiting on the
# lab's HA rounds, Ceph and corosync timers, so a third file keeps the CPUs busy meanwhile.
unit: $(DEV) sysdeps
	$(BIN)/pytest -q -n 3 --durations=25

# pip (the venv) and apt-get (sysdeps) download and unpack side by side; then the checks.
test:
	@$(MAKE) --no-print-directory -j2 $(DEV) sysdeps
	@$(MAKE) --no-print-directory lint typecheck unit

# The generated reference pages (tests fail when a committed page differs from its source).
docs: $(DEV)
	$(BIN)/python -m provision.spec.doc docs/spec.md
	$(BIN)/provision rules --markdown > docs/rules.md
	$(BIN)/python -m provision.actions.doc docs/plan-format.md

demo: $(RUNTIME) sysdeps
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/demo.sh

# bench/results/: scale.md/.json/.png (plan time and requests vs cluster size, against the
# per-object refresh baseline, on the lab and on a replay of it), apply.json (the apply
# targets), stack_load.json; docs/bench.md says how to read them. Takes tens of minutes.
# Measurement scripts other work adds (bench/startup.py, bench/lab_cpu.py) run when present.
bench: $(DEV) sysdeps
	mkdir -p bench/results
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/scale.py --out bench/results
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/apply_full_build.py --out bench/results
	$(BIN)/python bench/stack_load.py > bench/results/stack_load.json
	for extra in startup lab_cpu; do \
	  if [ -f bench/$$extra.py ]; then PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/$$extra.py \
	    > bench/results/$$extra.txt || exit 1; fi; \
	done
	-PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/lab_up.py

# The smallest size once, into a throw-away directory: proves the bench runs (tests/bench
# runs the same inside `make test`), not how fast.
bench-smoke: $(DEV) sysdeps
	d=$$(mktemp -d) && PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/scale.py --smoke --out $$d \
	  && cat $$d/smoke.md && rm -rf $$d

clean:
	rm -rf $(VENV) .provision .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
