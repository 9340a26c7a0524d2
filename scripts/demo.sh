#!/usr/bin/env bash
# The pve-provision demo: validate the reference stack and print its summary.
# (Grows with the project: lab, plan, apply, what-if.)
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1;36m==> %s\033[0m\n' "$*"; }

step "Validate stacks/lab.yaml (typed spec + best-practice rules)"
provision validate stacks/lab.yaml
