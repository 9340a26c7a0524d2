"""Discovery and planning against labs of several sizes (real HTTPS, real API).

    .venv/bin/python bench/discover_plan.py [nodes ...]   (default: 3 16)

For each size: stacks/lab.yaml grown to N nodes (each new node like pve03: same
interfaces with its own addresses, 6 OSDs, one guest), a lab built from it
(`lab up --from`), discovery request count and wall time (median of 5), and the plan
of that stack against it (diff + order + quorum replay; converged, so 0 actions).
The request count grows with nodes only, never with the number of objects; tests
assert that, this prints it.
Nothing is asserted here; tests never time things.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ruamel.yaml import YAML

from provision.discover.client import ApiClient
from provision.discover.discover import discover
from provision.discover.endpoint import from_lab
from provision.plan import make_plan
from provision.spec import Cluster, load_stack

PROVISION = str(Path(sys.executable).parent / "provision")
REPO = Path(__file__).resolve().parents[1]


def grown_stack(nodes: int, out: Path) -> Cluster:
    """stacks/lab.yaml with nodes pve04..pveNN added, written to `out`."""
    data = load_stack(REPO / "stacks" / "lab.yaml").cluster.model_dump(mode="json", exclude_unset=True)
    template = next(n for n in data["nodes"] if n["name"] == "pve03")
    for i in range(4, nodes + 1):
        name = f"pve{i:02d}"
        text = json.dumps(template).replace('"pve03"', f'"{name}"')
        for net in ("192.168.10.", "10.10.10.", "10.10.11.", "10.20.20.", "10.30.30."):
            text = text.replace(f'"{net}13', f'"{net}{10 + i}')
        node = json.loads(text)
        node["nodeid"] = i
        data["nodes"].append(node)
        data["ceph"]["osds"] += [{"node": name, "device": f"/dev/sd{d}", "device_class": "ssd"} for d in "bcdefg"]
        data["guests"].append({"sid": f"vm:{99 + i}", "name": f"vm{99 + i}", "node": name,
                               "memory_mib": 4096, "cores": 2})
    for link in data["corosync"]["links"]:
        link.pop("addresses", None)  # derived from the interfaces again
    yaml = YAML()
    with out.open("w") as fh:
        yaml.dump(data, fh)
    return load_stack(out).cluster


def measure(nodes: int, home: str) -> dict[str, float]:
    env = dict(os.environ, PROVISION_HOME=home)
    name = f"b{nodes}"
    stack_file = Path(home) / f"lab{nodes}.yaml"
    desired = grown_stack(nodes, stack_file)
    subprocess.run([PROVISION, "lab", "up", "--name", name, "--from", str(stack_file)], env=env,
                   check=True, capture_output=True)
    os.environ["PROVISION_HOME"] = home
    try:
        client = ApiClient.for_endpoint(from_lab(name))
        runs = [discover(client) for _ in range(5)]
        start = time.perf_counter()
        plan = make_plan(desired, runs[-1].cluster, runs[-1].observed, stack=str(stack_file))
        plan_ms = (time.perf_counter() - start) * 1000
        return {
            "nodes": nodes,
            "requests": runs[-1].requests,
            "discover_ms": statistics.median(r.seconds for r in runs) * 1000,
            "plan_ms": plan_ms,
            "actions": len(plan.to_document()["actions"]),
            "osds": len(desired.ceph.osds) if desired.ceph else 0,
        }
    finally:
        subprocess.run([PROVISION, "lab", "down", "--name", name], env=env, check=False, capture_output=True)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [3, 16]
    with tempfile.TemporaryDirectory() as home:
        for n in sizes:
            r = measure(n, home)
            print(f"{r['nodes']:>3} nodes, {r['osds']:>3} OSDs: {r['requests']:>3} requests, discovery "
                  f"{r['discover_ms']:6.1f} ms (median of 5), plan {r['plan_ms']:6.1f} ms ({r['actions']} actions)")


if __name__ == "__main__":
    main()
