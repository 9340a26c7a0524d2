#!/usr/bin/env bash
# The pve-provision demo, end to end against the embedded lab:
#   blank 3-node lab -> validate -> plan -> apply -> re-plan (zero changes)
#   -> N-1 what-if -> fail pve01 for real -> HA restarts where the what-if said
#   -> recover -> lab down.
# Run it with `make demo` (which creates the virtualenv first).
set -euo pipefail
cd "$(dirname "$0")/.."

# The demo has its own lab home so it never touches your labs.
export PROVISION_HOME="${DEMO_HOME:-$PWD/.provision/demo-home}"
# stacks/lab.yaml takes the PBS password from this variable ({env: PBS_PASSWORD});
# pve-provision reads it only when it adds the storage and never prints it.
export PBS_PASSWORD="${PBS_PASSWORD:-demo-only-pbs-password}"
STACK=stacks/lab.yaml
WORK="$(mktemp -d)"
START=$(date +%s)

step() { printf '\n\033[1;36m==> %s\033[0m\n' "$*"; }
note() { printf '\033[2m    %s\033[0m\n' "$*"; }
cleanup() {
  provision lab down >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# A demo that died half-way may have left its lab behind.
provision lab down >/dev/null 2>&1 || true

step "1. Start a blank lab: 3 freshly installed Proxmox VE 8 nodes, no cluster yet"
provision lab up --blank --nodes 3 --pve 8
note "A real HTTPS PVE API and the node CLIs (pvecm, pveceph, ha-manager, ...), all on this machine."

step "2. Validate the stack: typed spec, cross-checks and best-practice rules"
provision validate "$STACK"

step "3. Plan: what must change to turn the blank lab into the stack"
provision plan "$STACK" --out "$WORK/plan.json" --detailed-exitcode || rc=$?
[ "${rc:-0}" = 2 ] || { echo "expected changes (exit 2), got ${rc:-0}"; exit 1; }
note "Saved as a plan file; 'provision show $WORK/plan.json --format markdown' renders it for a pull request."

step "4. Apply exactly that plan through generated Ansible playbooks"
provision apply "$WORK/plan.json" --auto-approve

step "5. Re-plan: the cluster now matches the stack"
provision plan "$STACK" --detailed-exitcode

step "6. What if any one node dies? (N-1 matrix; fails if a service would be lost)"
provision simulate "$STACK" --each-node --fail-on unavailable

step "7. Predict: pve01 dies"
provision simulate "$STACK" --fail pve01 --format json > "$WORK/predicted.json"
python3 - "$WORK/predicted.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
for r in doc["scenarios"][0]["steps"][0]["ha"]:
    print(f"    {r['sid']:8} {r['before']} -> {r['after']:6} ({r['action']})")
EOF

step "8. Now for real: power pve01 off in the lab and watch the HA manager"
provision lab fail pve01
note "pve01's guests are dead; the cluster fences pve01 (time-scaled watchdog and lock), then recovers."
eval "$(provision lab env pve02)"
ha_status() { pvesh get /cluster/ha/status/current --output-format json; }
for _ in $(seq 1 120); do
  if ha_status | python3 -c '
import json, sys
services = [s for s in json.load(sys.stdin) if s.get("type") == "service"]
ok = services and all(s["state"] == "started" and s["node"] != "pve01" for s in services)
sys.exit(0 if ok else 1)'; then break; fi
  sleep 0.5
done
ha-manager status
ha_status > "$WORK/actual.json"
python3 - "$WORK/predicted.json" "$WORK/actual.json" <<'EOF'
import json, sys
predicted = {r["sid"]: r["after"] for r in json.load(open(sys.argv[1]))["scenarios"][0]["steps"][0]["ha"]}
actual = {s["sid"]: s["node"] for s in json.load(open(sys.argv[2])) if s.get("type") == "service"}
for sid in sorted(predicted):
    mark = "matches" if actual.get(sid) == predicted[sid] else "DIFFERS"
    print(f"    {sid:8} predicted {predicted[sid]:6} actual {actual.get(sid, '-'):6} {mark}")
if actual != predicted:
    sys.exit("the lab's HA recovery differs from the what-if")
print("    The lab's HA manager put every service where the what-if said it would.")
EOF

step "9. Recover pve01"
provision lab recover pve01
sleep 2
provision lab status
note "vm:100 and ct:200 stay on pve02: group web gives pve01 and pve02 the same priority (2),"
note "so there is no higher-priority node to fail back to. (simulate --recover pve01 says the same.)"

step "10. Stop the lab"
provision lab down
trap - EXIT
rm -rf "$WORK"
printf '\n\033[1;32mDemo finished in %ss.\033[0m\n' "$(( $(date +%s) - START ))"
