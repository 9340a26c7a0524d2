"""Which node runs each `ha-manager add` of a plan.

PVE takes a cluster-wide lock for every HA configuration edit (`cfs_lock_domain("ha")`,
docs/lab-contract.md "Cluster-wide locks"), so adds on different nodes are safe side by
side; what they cost is each node's own CLI process (PVE's CLIs are a process per
command). With every add on the first node, a 2,000-resource build ran 2,000 processes
one after the other on one node; spread over the nodes, each node's adds are one batch
task and the batches run side by side (`pve_parallel`).

An add goes to the node that runs its guest (where discovery found it, else where the
stack's `guests` puts it), which is where an operator would run it and keeps a node's
share proportional to its guests; a guest on no node of the stack, or one not known,
goes to the node with the fewest adds so far. Nodes the plan knows to be offline get none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from provision.discover.observed import Observed
from provision.spec.cluster import Cluster


def ha_add_nodes(sids: Iterable[str], desired: Cluster, observed: Cluster,
                 facts: Observed | None) -> dict[str, str]:
    """sid -> node for each resource the plan adds (sids in plan order: the result is
    the same for the same plan inputs, so a stored plan replans to itself)."""
    offline = {m.name for m in (facts.members.values() if facts else ()) if not m.online}
    nodes = [n.name for n in desired.nodes if n.name not in offline]
    if not nodes:
        return {}
    where: Mapping[str, str] = {**{g.sid: g.node for g in desired.guests},
                                **{g.sid: g.node for g in observed.guests}}
    load = dict.fromkeys(nodes, 0)
    out: dict[str, str] = {}
    unplaced: list[str] = []
    for sid in sids:
        node = where.get(sid)
        if node is not None and node in load:
            out[sid] = node
            load[node] += 1
        else:
            unplaced.append(sid)
    for sid in unplaced:
        node = min(nodes, key=load.__getitem__)  # ties: the first in the stack's order (min keeps it)
        out[sid] = node
        load[node] += 1
    return out


__all__ = ["ha_add_nodes"]
