"""The real lab (``provision lab up --real``): bring-up time, memory, and what real
corosync says after each failure next to what ``provision simulate`` predicted.

Needs root. Runs the real console script in a throw-away PROVISION_HOME:

1. ``lab up --real --from stacks/lab.yaml`` (3 nodes, 2 links) and the QDevice stack
   ``tests/real/stacks/two-node-qdevice.yaml``: wall time until every node is quorate,
   RSS of the real daemons;
2. the quorum matrix: each single-node failure, one and two links down, a partition
   (and the QDevice cases), each real result beside the prediction.

Usage: ``.venv/bin/python bench/real_lab.py``.
"""

from __future__ import annotations

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
SETTLE = 90.0
Quorum = dict[str, tuple[tuple[str, ...], int, bool]]


def cli(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([PROVISION, *args], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"provision {' '.join(args)}: {proc.stdout}{proc.stderr}")
    return proc.stdout


def observed(env: dict[str, str]) -> Quorum:
    st = json.loads(cli(env, "lab", "status", "--json"))
    return {n["node"]: (tuple(sorted(n["partition"].split(","))), int(n["votes"].split("/")[0]), n["quorate"])
            for n in st["nodes"] if n["power"] == "on" and n["partition"]}


def predicted(env: dict[str, str], stack: Path, *what_if: str) -> Quorum:
    doc = json.loads(cli(env, "simulate", str(stack), *what_if, "--format", "json"))
    out: Quorum = {}
    for p in doc["scenarios"][0]["steps"][-1]["quorum"]["partitions"]:
        for n in p["nodes"]:
            out[n] = (tuple(sorted(p["nodes"])), int(p["votes"]), bool(p["quorate"]))
    return out


def settle(env: dict[str, str], want: Quorum) -> tuple[Quorum, float]:
    t0 = time.perf_counter()
    seen: Quorum = {}
    while time.perf_counter() - t0 < SETTLE:
        seen = observed(env)
        if seen == want:
            break
        time.sleep(0.5)
    return seen, time.perf_counter() - t0


def rss_mib(env: dict[str, str]) -> tuple[int, float]:
    daemons: dict[str, int] = json.loads(cli(env, "lab", "status", "--json"))["real"]["daemons"]
    total = 0
    for pid in daemons.values():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return len(daemons), total / 1024


def fmt(q: Quorum) -> str:
    return "; ".join(f"{n}: {'+'.join(m)} {v}v {'quorate' if ok else 'NO QUORUM'}"
                     for n, (m, v, ok) in sorted(q.items()))


def run_matrix(env: dict[str, str], stack: Path, cases: list[tuple[str, list[str], list[list[str]], list[str]]],
               whole: Quorum) -> list[dict[str, Any]]:
    rows = []
    for title, what_if, faults, undo in cases:
        want = predicted(env, stack, *what_if)
        for f in faults:
            cli(env, "lab", *f)
        seen, took = settle(env, want)
        rows.append({"case": title, "real": fmt(seen), "predicted": fmt(want), "match": seen == want,
                     "seconds": round(took, 1)})
        print(f"  {title:<34} real: {fmt(seen)}\n  {'':<34} simulate: {'matches' if seen == want else fmt(want)}"
              f"  ({took:.1f} s)", flush=True)
        cli(env, "lab", *undo)
        settle(env, whole)
    return rows


def bring_up(env: dict[str, str], stack: Path, name: str) -> tuple[float, int, float]:
    t0 = time.perf_counter()
    cli(env, "lab", "up", "--real", "--from", str(stack))
    nodes = [n["node"] for n in json.loads(cli(env, "lab", "status", "--json"))["nodes"]]
    while not all(q for _m, _v, q in observed(env).values()) or len(observed(env)) != len(nodes):
        time.sleep(0.2)
    took = time.perf_counter() - t0
    count, mib = rss_mib(env)
    print(f"{name}: lab up --real (until every node quorate) {took:.1f} s; {count} daemons, RSS {mib:.0f} MiB",
          flush=True)
    return took, count, mib


def main() -> int:
    if os.geteuid() != 0:
        print("bench/real_lab.py needs root (network namespaces)")
        return 1
    ok = True
    with tempfile.TemporaryDirectory(prefix="pvp-real-bench-") as home:
        env = dict(os.environ, PROVISION_HOME=home, PBS_PASSWORD="bench", NO_COLOR="1")
        lab = REPO / "stacks" / "lab.yaml"
        bring_up(env, lab, "stacks/lab.yaml (3 nodes, 2 links)")
        whole3 = {n: (("pve01", "pve02", "pve03"), 3, True) for n in ("pve01", "pve02", "pve03")}
        cases = [(f"fail {n}", ["--fail", n], [["fail", n]], ["recover", n]) for n in ("pve01", "pve02", "pve03")]
        cases += [
            ("link-down pve01:0 (2 links)", ["--link-down", "pve01:0"], [["link-down", "pve01", "0"]], ["heal"]),
            ("link-down pve01:0+1 (2 links)", ["--link-down", "pve01:0", "--link-down", "pve01:1"],
             [["link-down", "pve01", "0"], ["link-down", "pve01", "1"]], ["heal"]),
            ("partition pve01,pve02 | pve03", ["--partition", "pve01,pve02/pve03"],
             [["partition", "pve01,pve02", "pve03"]], ["heal"]),
        ]
        rows = run_matrix(env, lab, cases, whole3)
        t0 = time.perf_counter()
        cli(env, "lab", "down")
        print(f"lab down: {time.perf_counter() - t0:.1f} s", flush=True)

        duo = REPO / "tests" / "real" / "stacks" / "two-node-qdevice.yaml"
        bring_up(env, duo, "two-node-qdevice.yaml (2 nodes + QNetd, 2 links)")
        whole2 = {n: (("pve01", "pve02"), 3, True) for n in ("pve01", "pve02")}
        rows += run_matrix(env, duo, [
            ("QDevice: fail pve01", ["--fail", "pve01"], [["fail", "pve01"]], ["recover", "pve01"]),
            ("QDevice: fail pve02", ["--fail", "pve02"], [["fail", "pve02"]], ["recover", "pve02"]),
            ("QDevice: link-down pve02:0 (2 links)", ["--link-down", "pve02:0"], [["link-down", "pve02", "0"]],
             ["heal"]),
            ("QDevice: link-down pve02:0+1", ["--link-down", "pve02:0", "--link-down", "pve02:1"],
             [["link-down", "pve02", "0"], ["link-down", "pve02", "1"]], ["heal"]),
            ("QDevice: partition pve01 | pve02", ["--partition", "pve01/pve02"], [["partition", "pve01", "pve02"]],
             ["heal"]),
        ], whole2)
        cli(env, "lab", "down")

        for src, name, node, whole in ((lab, "lab-one-link.yaml", "pve03", whole3),
                                       (duo, "qdevice-one-link.yaml", "pve02", whole2)):
            one = Path(home) / name
            one.write_text("".join(line for line in src.read_text().splitlines(keepends=True)
                                   if "{number: 1, network:" not in line))
            bring_up(env, one, f"{name} (1 link)")
            rows += run_matrix(env, one, [(f"{name}: link-down {node}:0 (1 link)", ["--link-down", f"{node}:0"],
                                           [["link-down", node, "0"]], ["heal"])], whole)
            cli(env, "lab", "down")
        ok = all(r["match"] for r in rows)
    print(f"{sum(r['match'] for r in rows)}/{len(rows)} cases: real corosync agrees with simulate")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
