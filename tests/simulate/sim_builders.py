"""Builders for small clusters: each test states only the part of the spec it is about."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from provision.simulate import Scenario, ScenarioResult, run, scenario_from_cli
from provision.spec import Cluster, load_text


def node_name(i: int) -> str:
    return f"pve{i:02d}"


def make_cluster(
    n: int = 3,
    *,
    version: int = 8,
    links: int = 1,
    qdevice: dict[str, Any] | None = None,
    ha: dict[str, Any] | None = None,
    guests: list[dict[str, Any]] | None = None,
    ceph: dict[str, Any] | None = None,
    capacity: dict[str, dict[str, int]] | None = None,
    votes: dict[str, int] | None = None,
) -> Cluster:
    """A valid stack of ``n`` nodes (pve01..), one NIC per corosync link, loaded like a file."""
    nodes = []
    for i in range(1, n + 1):
        name = node_name(i)
        interfaces: list[dict[str, Any]] = [
            {"name": f"eno{k + 1}", "type": "nic", "address": f"10.10.{10 + k}.{10 + i}/24"} for k in range(links)
        ]
        interfaces.append({"name": "eno8", "type": "nic", "address": f"10.20.20.{10 + i}/24"})
        node: dict[str, Any] = {
            "name": name,
            "nodeid": i,
            "address": f"192.168.10.{10 + i}",
            "interfaces": interfaces,
            "capacity": (capacity or {}).get(name, {"memory_mib": 65536, "cores": 16}),
        }
        if votes and name in votes:
            node["votes"] = votes[name]
        nodes.append(node)
    doc: dict[str, Any] = {
        "name": "t",
        "pve_version": version,
        "nodes": nodes,
        "corosync": {"links": [{"number": k, "network": f"10.10.{10 + k}.0/24"} for k in range(links)]},
    }
    if qdevice is not None:
        doc["quorum"] = {"qdevice": {"host": "192.168.10.5", **qdevice}}
    if ha is not None:
        doc["ha"] = ha
    if guests is not None:
        doc["guests"] = guests
    if ceph is not None:
        doc["ceph"] = {"public_network": "10.20.20.0/24", **ceph}
    return load_text(json.dumps(doc), "test.yaml").cluster


def osds_on(*nodes: str, per_node: int = 2) -> list[dict[str, str]]:
    return [{"node": n, "device": f"/dev/sd{chr(ord('b') + k)}"} for n in nodes for k in range(per_node)]


def guest(sid: str, node: str, memory_mib: int = 2048, cores: int = 2) -> dict[str, Any]:
    return {"sid": sid, "node": node, "memory_mib": memory_mib, "cores": cores}


def scenario(cluster: Cluster, **flags: list[str]) -> Scenario:
    links = [link.number for link in cluster.corosync.links]
    return scenario_from_cli(cluster.node_names, links, **flags)


def simulate(cluster: Cluster, **flags: list[str]) -> ScenarioResult:
    """Run one scenario written with the CLI's flag names (fail=[...], recover=[...])."""
    return run(cluster, scenario(cluster, **flags))

REPO = Path(__file__).resolve().parents[2]
LAB_STACK = REPO / "stacks" / "lab.yaml"
PVE9_STACK = REPO / "stacks" / "pve9-example.yaml"
