"""HA resources must name guests that exist: checked at plan time, not by the 31st action.

`ha-manager add vm:104` dies with "resource 'vm:104' does not exist in cluster" when no
guest 104 exists, and with "... is not a VM" when 104 is a container (pve-ha-manager
`src/PVE/HA/Resources/PVEVM.pm`/`PVECT.pm` `exists`, called by
`src/PVE/API2/HA/Resources.pm` create). Discovery already has the cluster's guest list,
so the plan refuses such a stack before any action runs, naming the guest and (through
`provision.plan.workflow`) its place in the stack file.

The list is complete only once every node of the stack is a cluster member: a
standalone node's API lists its own guests only, so a cluster still being built is not
checked (the stack's other nodes have not joined yet).
"""

from __future__ import annotations

from dataclasses import dataclass

from provision.discover.observed import Observed
from provision.spec.addresses import Address
from provision.spec.cluster import Cluster

_KIND = {"vm": "VM", "ct": "container"}


@dataclass(frozen=True)
class MissingGuest:
    """An HA resource of the stack without its guest; `loc` is its place in the stack."""

    loc: tuple[str | int, ...]
    address: Address
    message: str

    def __str__(self) -> str:
        return f"{self.address}: {self.message}"


def missing_guests(desired: Cluster, observed: Cluster, facts: Observed | None) -> list[MissingGuest]:
    """The stack's HA resources whose guest the cluster does not have (or has as the
    other kind), when the cluster's guest list is complete; else none."""
    if facts is None or not facts.clustered or not set(desired.node_names) <= set(facts.members):
        return []
    found = {g.sid.split(":", 1)[1]: g for g in observed.guests}
    out: list[MissingGuest] = []
    for index, res in enumerate(desired.ha.resources):
        kind, vmid = res.sid.split(":", 1)
        address = Address.of(("ha", None), ("resource", res.sid))
        guest = found.get(vmid)
        if guest is None:
            message = (f"guest {res.sid} does not exist in the cluster (no VM or container {vmid}); "
                       "pve-provision manages HA, not guests: create it first or remove the resource")
        elif guest.sid != res.sid:
            message = (f"guest {vmid} is a {_KIND[guest.sid.split(':')[0]]} ({guest.sid} on {guest.node}), "
                       f"not a {_KIND[kind]}: write the resource as {guest.sid}")
        else:
            continue
        out.append(MissingGuest(("ha", "resources", index, "sid"), address, message))
    return out


__all__ = ["MissingGuest", "missing_guests"]
