"""Measure `provision apply` against a blank 3-node lab (real CLI, Ansible, lab).

    .venv/bin/python bench/apply_full_build.py [--json]

Two numbers matter: the full build of stacks/lab.yaml from a blank lab, and a
one-field change afterwards (an HA resource's max_relocate). For each: the wall time
of the whole command (discover + plan + playbooks + verify), the Ansible part alone,
and the number of tasks that ran. Nothing is asserted; tests never time things.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "apply"))

import e2e_lab  # noqa: E402


def _apply(lab: e2e_lab.Lab, stack: Path) -> dict[str, Any]:
    before = set(lab.runs())
    start = time.monotonic()
    proc = lab.cli("apply", str(stack), "--auto-approve", "--format", "json", timeout=1800)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"apply failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    new = [r for r in lab.runs() if r not in before]
    summary = lab.summary(new[-1]) if new else {}
    return {
        "command_seconds": round(wall, 2),
        "ansible_seconds": summary.get("wall_seconds"),
        "tasks_executed": (summary.get("tasks") or {}).get("executed"),
        "tasks_changed": (summary.get("tasks") or {}).get("changed"),
        "tasks_skipped": (summary.get("tasks") or {}).get("skipped"),
        "actions": len((summary.get("actions") or {}).get("done", [])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        home.mkdir()
        work.mkdir()
        lab = e2e_lab.start(home, work)
        try:
            base = e2e_lab.stack_copy(work / "lab.yaml")
            full = _apply(lab, base)
            changed = e2e_lab.stack_copy(work / "lab-one-field.yaml",
                                         lambda t: t.replace("max_relocate: 2", "max_relocate: 3"))
            one = _apply(lab, changed)
            noop_start = time.monotonic()
            lab.cli("apply", str(changed), "--auto-approve")
            noop = round(time.monotonic() - noop_start, 2)
        finally:
            e2e_lab.stop(lab)
    result = {"full_build": full, "one_field_change": one, "no_change_seconds": noop}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name in ("full_build", "one_field_change"):
        r = result[name]
        print(f"{name:18} {r['command_seconds']:7.1f}s command, {r['ansible_seconds']:6.1f}s Ansible, "
              f"{r['tasks_executed']} tasks ({r['tasks_changed']} changed, {r['tasks_skipped']} skipped), "
              f"{r['actions']} actions")
    print(f"{'no change':18} {noop:7.1f}s command (no Ansible run)")


if __name__ == "__main__":
    main()
