"""Simulating the live cluster: the discovered model, plus what discovery cannot see.

Discovery reads what Proxmox stores (members, links, HA config, guests and where they
run now, Ceph, each node's memory and CPUs). The hardware the admin plans with
(``capacity``, perhaps less than the node has) and ``datacenter.cfg`` ``crs`` come from
the stack file when it names the same nodes; a node the stack gives no capacity keeps
what discovery read. Members that are offline right now start every scenario already failed,
which is what they are.
"""

from __future__ import annotations

from collections.abc import Iterable

from provision.simulate.events import NodeDown
from provision.spec import Cluster

__all__ = ["currently_down", "discovery_gaps", "with_planning_data"]


def discovery_gaps(cluster: Cluster) -> list[str]:
    """What a half-read cluster would get wrong: dangling HA and guest references,
    members without corosync addresses. Simulating it would give a confident wrong answer."""
    gaps: list[str] = []
    names = set(cluster.node_names)
    groups = {g.name for g in cluster.ha.groups}
    sids = {r.sid for r in cluster.ha.resources}
    if not names:
        gaps.append("no cluster members")
    for res in cluster.ha.resources:
        if res.group is not None and res.group not in groups:
            gaps.append(f"HA resource {res.sid} names group {res.group!r}, which was not discovered")
    for rule in cluster.ha.rules:
        missing = sorted(set(rule.resources) - sids)
        if missing:
            gaps.append(f"HA rule {rule.name} names {', '.join(missing)}, not discovered as HA resources")
    for node in cluster.nodes:
        if node.nodeid < 1:
            gaps.append(f"member {node.name} has no node id")
        if not any(node.name in link.addresses for link in cluster.corosync.links):
            gaps.append(f"member {node.name} has no corosync link address")
    for guest in cluster.guests:
        if guest.node not in names:
            gaps.append(f"guest {guest.sid} is on {guest.node}, which is not a discovered member")
    return gaps


def with_planning_data(observed: Cluster, spec: Cluster | None) -> tuple[Cluster, list[str]]:
    """``observed`` with node capacity and CRS mode taken from ``spec``; notes say what."""
    notes: list[str] = []
    if spec is None:
        notes.append("no readable stack file: node capacity unknown, CRS mode basic assumed")
        return observed, notes
    nodes = []
    borrowed = []
    for node in observed.nodes:
        planned = spec.node(node.name)
        if planned is not None and planned.capacity is not None:
            node = node.model_copy(update={"capacity": planned.capacity})
            borrowed.append(node.name)
        nodes.append(node)
    ha = observed.ha
    if "crs" not in observed.ha.model_fields_set and spec.ha.crs != ha.crs:
        ha = ha.model_copy(update={"crs": spec.ha.crs})
        notes.append(f"CRS mode {spec.ha.crs} from the stack file (discovery does not read datacenter.cfg)")
    if borrowed:
        notes.append(f"node capacity from the stack file for {', '.join(borrowed)}")
    missing = sorted(set(observed.node_names) - set(borrowed) - {n.name for n in observed.nodes if n.capacity})
    if missing:
        notes.append(f"no capacity known for {', '.join(missing)}: not checked")
    return observed.model_copy(update={"nodes": nodes, "ha": ha}), notes


def currently_down(members_online: Iterable[tuple[str, bool]]) -> list[NodeDown]:
    """A failure event for every member that is offline now, in name order."""
    return [NodeDown(name) for name, online in sorted(members_online) if not online]
