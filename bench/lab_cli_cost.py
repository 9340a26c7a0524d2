"""CPU and wall time of one lab node CLI call, `ha-manager add`, on a lab that already
holds many HA resources (issue #17: the HA phase of the 32-node build is 2,000 of them).

    .venv/bin/python bench/lab_cli_cost.py LAB_DIR [--node pve01] [--count 20] [--src DIR]

Takes the last COUNT HA resources of the lab's resources.cfg out (`ha-manager remove`,
not timed) and adds them back one at a time, as apply's batch does, each a fresh process
of the lab's own `bin/ha-manager`. Prints the median wall time and the mean CPU (user +
system of the process) per add, with the load average. `--src DIR` runs the lab CLI of
another checkout of provision/ (its parent directory goes first on PYTHONPATH), for a
before/after comparison on the same lab. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _sids(lab: Path, node: str, env: dict[str, str]) -> list[str]:
    out = subprocess.run([str(lab / "bin" / "ha-manager"), "config"], env=env, capture_output=True, text=True, cwd="/",
                         check=True).stdout
    return re.findall(r"^((?:vm|ct):\d+)$", out, re.M)


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, cwd="/")
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lab", type=Path, help="the lab directory ($PROVISION_HOME/labs/NAME)")
    parser.add_argument("--node", default="pve01")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--src", type=Path, help="a checkout whose provision/ runs the CLI instead")
    args = parser.parse_args()
    env = {**os.environ, "PVE_LAB_DIR": str(args.lab), "PVE_LAB_NODE": args.node}
    if args.src:
        env["PYTHONPATH"] = str(args.src.resolve())
    tool = str(args.lab / "bin" / "ha-manager")
    sids = _sids(args.lab, args.node, env)[-args.count:]
    for sid in sids:
        _run([tool, "remove", sid], env)
    walls, cpus = [], []
    load = os.getloadavg()[0]
    for sid in sids:
        wall, cpu = _run([tool, "add", sid, "--state", "started"], env)
        walls.append(wall)
        cpus.append(cpu)
    print(json.dumps({
        "resources": len(_sids(args.lab, args.node, env)), "adds": len(sids), "src": str(args.src or "this checkout"),
        "wall_median_s": round(statistics.median(walls), 3), "cpu_mean_s": round(statistics.mean(cpus), 3),
        "load_1min": [round(load, 2), round(os.getloadavg()[0], 2)],
    }))


if __name__ == "__main__":
    sys.exit(main())
