"""The root model: one Proxmox VE cluster, desired (from a stack file) or observed
(from discovery). Both sides use this one model so that a plan is simply the
difference between two instances."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from provision.spec.addresses import Address, AddressPattern
from provision.spec.backups import Backups
from provision.spec.base import CLUSTER_NAME, SpecModel, Text
from provision.spec.ceph import Ceph
from provision.spec.connection import Connection
from provision.spec.corosync import Corosync, Quorum
from provision.spec.datacenter import Datacenter
from provision.spec.guests import Guest
from provision.spec.ha import Ha
from provision.spec.network import Bond, Nic
from provision.spec.node import Node
from provision.spec.notifications import Notifications
from provision.spec.storage import RbdStorage, Storage


def _pattern(text: str) -> str:
    AddressPattern.parse(text)  # a ValueError names the problem
    return text


Pattern = Annotated[Text, AfterValidator(_pattern)]
"""An address pattern (`provision.spec.addresses.AddressPattern`), kept as written."""


class Cluster(SpecModel):
    """A Proxmox VE cluster."""

    name: Text = Field(pattern=CLUSTER_NAME, description="Cluster name (corosync cluster_name, max 15 chars).")
    pve_version: Literal[8, 9] = Field(
        description="Proxmox VE major version; decides HA groups (8) versus HA rules (9)."
    )
    connection: Connection | None = Field(
        default=None, description="How to reach the cluster; required for plan and apply."
    )
    nodes: list[Node] = Field(min_length=1, description="Cluster nodes.")
    corosync: Corosync = Field(description="Corosync links and timing.")
    quorum: Quorum = Field(default_factory=Quorum, description="Quorum design (QDevice).")
    ceph: Ceph | None = Field(default=None, description="Hyper-converged Ceph, if used.")
    storage: list[Storage] = Field(default_factory=list, description="Storage definitions (storage.cfg).")
    ha: Ha = Field(default_factory=Ha, description="HA groups, rules and resources.")
    guests: list[Guest] = Field(
        default_factory=list, description="Guests that exist (not managed; used for checks and what-if)."
    )
    datacenter: Datacenter = Field(
        default_factory=Datacenter,
        description="datacenter.cfg options (migration, email sender, workers, bandwidth limits, VMID range); "
        "each one left out is left alone.",
    )
    ignore: list[Pattern] = Field(
        default_factory=list,
        description='Objects the cluster has and the stack leaves alone: not reported as unmanaged, not drift, '
        'never pruned. Addresses or patterns: storage["local"], storage["local*"], ceph.osd (a whole kind), '
        'network["*"].bridge["vmbr9*"]. An object the stack declares is managed whatever this says.',
    )

    notifications: Notifications | None = Field(
        default=None, description="Notification targets and matchers (PVE >= 8.1); unmanaged when left out.")
    backups: Backups | None = Field(default=None, description="Scheduled backup jobs; unmanaged when left out.")

    @property
    def ignore_patterns(self) -> list[AddressPattern]:
        return [AddressPattern.parse(text) for text in self.ignore]

    def ignores(self, address: Address) -> bool:
        """Whether `ignore:` covers this address."""
        return any(p.matches(address) for p in self.ignore_patterns)

    # -- lookups -----------------------------------------------------------------
    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    @property
    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def storage_by_name(self, name: str) -> Storage | None:
        return next((s for s in self.storage if s.name == name), None)

    def guest(self, sid: str) -> Guest | None:
        return next((g for g in self.guests if g.sid == sid), None)

    @property
    def total_votes(self) -> int:
        return sum(n.votes for n in self.nodes)

    # -- normalisation -----------------------------------------------------------
    @model_validator(mode="after")
    def _normalise(self) -> Cluster:
        """Make implicit values explicit, so that a spec and a discovered cluster
        that mean the same thing are equal field by field.

        - An interface's `autostart` left out is what Proxmox writes: `auto` for
          bonds, bridges, VLANs, bond slaves and addressed NICs, none for bare NICs.
        - A corosync link address left out for a node is that node's interface
          address inside the link's network.
        - A pool with `add_storage` implies an RBD storage named like the pool
          (pveceph creates it), unless the stack declares that storage itself.
        """
        for node in self.nodes:
            slaves = {s for i in node.interfaces if isinstance(i, Bond) for s in i.slaves}
            for iface in node.interfaces:
                if iface.autostart is None:
                    iface.autostart = not isinstance(iface, Nic) or iface.name in slaves or iface.address is not None
        for link in self.corosync.links:
            for node in self.nodes:
                if node.name in link.addresses:
                    continue
                for iface in node.interfaces:
                    if iface.address is not None and iface.address.ip in link.network:
                        link.addresses[node.name] = iface.address.ip
                        break
            link.addresses = dict(sorted(link.addresses.items()))
        if self.ceph is not None:
            names = {s.name for s in self.storage}
            for pool in self.ceph.pools:
                if pool.add_storage and pool.name not in names:
                    self.storage.append(
                        RbdStorage(type="rbd", name=pool.name, pool=pool.name, content=["images", "rootdir"])
                    )
        return self
