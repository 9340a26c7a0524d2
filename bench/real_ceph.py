"""Real Ceph under the lab (``provision lab up --real-ceph``): bring-up time and memory.

Needs root and Debian's ceph-mon/ceph-mgr/ceph-osd/ceph-common. Runs the real console
script in a throw-away PROVISION_HOME with ``tests/real/stacks/ceph.yaml`` (3 nodes, 3
MONs, 2 MGRs, 6 BlueStore OSDs on sparse files, one pool):

1. wall time of ``lab up`` (namespaces, corosync, every Ceph daemon made and started) and
   until HEALTH_OK with every PG active+clean;
2. RSS of every real daemon, disk really used under ``real/ceph``;
3. wall time of ``lab down``.

Usage: ``.venv/bin/python bench/real_ceph.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROVISION = str(Path(sys.executable).parent / "provision")
STACK = REPO / "tests" / "real" / "stacks" / "ceph.yaml"


def cli(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([PROVISION, *args], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"provision {' '.join(args)}: {proc.stdout}{proc.stderr}")
    return proc.stdout


def ceph_json(env: dict[str, str], lab_dir: Path, *argv: str) -> dict[str, object]:
    node_env = {**env, "PVE_LAB_DIR": str(lab_dir), "PVE_LAB_NODE": "pve01",
                "PATH": f"{lab_dir / 'bin'}:{os.environ['PATH']}"}
    out = subprocess.run(["ceph", *argv, "-f", "json"], env=node_env, capture_output=True, text=True, check=True)
    doc: dict[str, object] = json.loads(out.stdout)
    return doc


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pvp-bench-ceph-") as d:
        env = {**os.environ, "PROVISION_HOME": str(Path(d) / "home"), "PBS_PASSWORD": "bench"}
        lab_dir = Path(d) / "home" / "labs" / "default"
        t0 = time.perf_counter()
        cli(env, "lab", "up", "--real-ceph", "--from", str(STACK))
        t_up = time.perf_counter() - t0
        try:
            while True:
                s = ceph_json(env, lab_dir, "-s")
                pgmap = s["pgmap"]
                assert isinstance(pgmap, dict)
                states = {p["state_name"]: p["count"] for p in pgmap["pgs_by_state"]}
                health = s["health"]
                assert isinstance(health, dict)
                if health["status"] == "HEALTH_OK" and set(states) == {"active+clean"}:
                    break
                time.sleep(0.5)
            t_ok = time.perf_counter() - t0
            real = json.loads(cli(env, "lab", "status", "--json"))["real"]
            rows = sorted((k, rss_mib(p)) for k, p in real["daemons"].items())
            ceph_dir = lab_dir / "real" / "ceph"
            used = subprocess.run(["du", "-sm", str(ceph_dir)], capture_output=True, text=True,
                                  check=True).stdout.split()[0]
            apparent = subprocess.run(["du", "-sm", "--apparent-size", str(ceph_dir)], capture_output=True,
                                      text=True, check=True).stdout.split()[0]
        finally:
            t1 = time.perf_counter()
            cli(env, "lab", "down")
            t_down = time.perf_counter() - t1
    kinds = [k.split("@")[0].removeprefix("ceph-") for k, _ in rows if k.startswith("ceph-")]
    layout = ", ".join(f"{kinds.count(k)} {k.upper()}" for k in ("mon", "mgr", "osd"))
    print(f"lab up --real-ceph ({layout}):  {t_up:.1f} s")
    print(f"until HEALTH_OK, every PG active+clean: {t_ok:.1f} s")
    print(f"lab down:                               {t_down:.1f} s")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"real/ceph on disk: {used} MiB used ({apparent} MiB apparent, sparse OSD files)")
    print("daemon RSS (MiB):")
    for key, mib in rows:
        print(f"  {key:28} {mib:7.1f}")
    ceph_total = sum(m for k, m in rows if k.startswith("ceph-"))
    print(f"  {'total Ceph':28} {ceph_total:7.1f}")
    print(f"  {'total all daemons':28} {sum(m for _, m in rows):7.1f}")


if __name__ == "__main__":
    main()
