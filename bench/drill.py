"""Measure `provision drill` on a lab converged with stacks/lab.yaml (real CLI, Ansible, lab).

    .venv/bin/python bench/drill.py [--node pve01] [--runs 3] [--json]

Per run: the wall time of the whole command, and the report's own numbers (seconds until
the moves and the failback were seen settled, which include each `ha-manager` run through
Ansible). Nothing is asserted; tests never time things.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PROVISION = str(Path(sys.executable).parent / "provision")
STACK = REPO / "stacks" / "lab.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node", default="pve01")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, PROVISION_HOME=home)
        start = time.monotonic()
        subprocess.run([PROVISION, "lab", "up", "--name", "bench", "--from", str(STACK)], env=env, check=True,
                       capture_output=True)
        up = time.monotonic() - start
        runs: list[dict[str, Any]] = []
        try:
            for _ in range(args.runs):
                start = time.monotonic()
                p = subprocess.run([PROVISION, "drill", str(STACK), "--lab", "bench", "--node", args.node,
                                    "--poll", "0.2", "-f", "json"], env=env, capture_output=True, text=True)
                report = json.loads(p.stdout)
                runs.append({"wall_s": round(time.monotonic() - start, 1), "verdict": report["verdict"],
                             **{f"{k}_s": v for k, v in report["durations_s"].items()}})
        finally:
            subprocess.run([PROVISION, "lab", "down", "--name", "bench"], env=env, capture_output=True)
    result = {"lab_up_s": round(up, 1), "node": args.node, "runs": runs, "load": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"lab up --from stacks/lab.yaml: {result['lab_up_s']} s (load {result['load']:.1f})")
    for i, r in enumerate(runs, 1):
        print(f"drill {args.node} #{i}: {r['wall_s']} s wall, moves {r.get('maintenance_s')} s, "
              f"failback {r.get('failback_s')} s, {r['verdict']}")


if __name__ == "__main__":
    main()
