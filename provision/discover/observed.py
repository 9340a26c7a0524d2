"""What discovery saw beyond the spec model: identity, membership, quorum, daemons.

The spec models only desired configuration. The planner also needs facts that a
stack never states (is the cluster quorate, which nodes are online, which OSD id
sits on which disk, which MONs are in quorum, the corosync config_version). They
live here, next to the observed `Cluster`, so the spec stays a pure description
of intent and the plan file can fingerprint exactly what it was made from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any


@dataclass(frozen=True)
class MemberState:
    """A corosync member as `/cluster/status` and `/cluster/config/nodes` report it."""

    name: str
    nodeid: int
    votes: int
    online: bool
    local: bool = False
    ip: str | None = None


@dataclass(frozen=True)
class OsdState:
    """One OSD from the OSD tree, joined with the disk list of its host."""

    id: int
    node: str
    device: str | None
    up: bool
    in_: bool
    device_class: str | None = None
    db_device: str | None = None
    wal_device: str | None = None


@dataclass(frozen=True)
class MonState:
    name: str
    node: str
    in_quorum: bool


@dataclass
class Observed:
    """Facts about the live cluster that the `Cluster` model does not carry."""

    pve_version: int | None = None
    pve_release: str | None = None
    clustered: bool = False
    cluster_name: str | None = None
    quorate: bool = True
    config_version: int | None = None
    local_node: str | None = None
    members: dict[str, MemberState] = field(default_factory=dict)
    standalone: list[str] = field(default_factory=list)
    """Reachable nodes that are not cluster members (a blank lab, a node to join)."""
    unreadable: dict[str, str] = field(default_factory=dict)
    """Node -> why its node-local state (network, disks) could not be read."""
    bootstrap: list[str] = field(default_factory=list)
    """Nodes that are not members, read through their own API with a token made on them
    (`connection.api.bootstrap`), because the cluster's API cannot answer for them."""
    qdevice_state: str | None = None
    ceph_initialised: bool = False
    ceph_installed: dict[str, str] = field(default_factory=dict)
    """Node -> installed Ceph release codename, "" when Ceph is not installed; nodes
    whose package list could not be read are left out (unknown)."""
    ceph_networks_known: bool = True
    """False when ceph.conf could not be read: the Ceph networks are then guessed
    from MON addresses and not compared."""
    ceph_fsid: str | None = None
    mons: list[MonState] = field(default_factory=list)
    osds: list[OsdState] = field(default_factory=list)
    ha_groups_migrated: bool = False
    options_known: bool = True
    """False when /cluster/options (datacenter.cfg) could not be read: `ha.crs` is then unknown."""
    interfaces_api: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Node -> its `/nodes/{node}/network` records without runtime state: everything PVE
    reads from the interfaces file, so a plan can show that file's lines before and after."""
    notes: list[str] = field(default_factory=list)
    fingerprint: str = ""

    # -- derived ------------------------------------------------------------------
    @property
    def expected_votes(self) -> int:
        return sum(m.votes for m in self.members.values())

    @property
    def online_votes(self) -> int:
        return sum(m.votes for m in self.members.values() if m.online)

    @property
    def offline_members(self) -> list[str]:
        return sorted(n for n, m in self.members.items() if not m.online)

    @property
    def mon_quorum(self) -> list[str]:
        return sorted(m.name for m in self.mons if m.in_quorum)

    def osd_for(self, node: str, device: str) -> OsdState | None:
        return next((o for o in self.osds if o.node == node and o.device == device), None)

    def identity(self) -> dict[str, Any]:
        """The cluster identity recorded in plan files (apply checks it again)."""
        return {
            "name": self.cluster_name,
            "clustered": self.clustered,
            "pve_version": self.pve_version,
            "nodes": sorted(self.members) if self.clustered else sorted(self.standalone),
            "config_version": self.config_version,
            "ceph_fsid": self.ceph_fsid,
            "quorate": self.quorate,
            "bootstrap": list(self.bootstrap),
        }


def fingerprint_of(cluster_json: Any, observed: Observed) -> str:
    """sha256 over the normalised observed model plus the facts (not the fingerprint
    itself, not the notes): equal fingerprints mean reality did not move.

    The facts are serialised as they are (dataclasses field by field, anything else
    JSON cannot write as text), without a deep copy of every interface record first
    (`dataclasses.asdict`), which cost more than the hash at 32 nodes."""
    facts = {f.name: getattr(observed, f.name) for f in fields(observed) if f.name not in ("fingerprint", "notes")}
    blob = json.dumps({"cluster": cluster_json, "facts": facts}, sort_keys=True, separators=(",", ":"),
                      default=_fact_json)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def _fact_json(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    return str(value)
