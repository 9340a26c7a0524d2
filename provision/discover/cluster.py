"""`/cluster/status` and `/version` -> identity, membership, quorum.

`/cluster/status` has one `type: cluster` entry only when the node is clustered;
a standalone node answers with a single node entry with `nodeid: 0`
(pve-facts 1.1). Booleans are 0/1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provision.discover._values import as_bool, as_int
from provision.discover.observed import MemberState


@dataclass
class ClusterStatus:
    clustered: bool
    name: str | None
    quorate: bool
    config_version: int | None
    local_node: str | None
    nodes: dict[str, MemberState] = field(default_factory=dict)


def normalise_status(data: list[dict[str, Any]]) -> ClusterStatus:
    """Parse `/cluster/status`. Votes are not in this endpoint (they come from
    `/cluster/config/nodes`); 1 is PVE's default and is replaced later."""
    cluster = next((e for e in data if e.get("type") == "cluster"), None)
    nodes: dict[str, MemberState] = {}
    local: str | None = None
    for entry in data:
        if entry.get("type") != "node":
            continue
        name = str(entry.get("name"))
        member = MemberState(
            name=name,
            nodeid=as_int(entry.get("nodeid"), 0) or 0,
            votes=1,  # PVE default quorum_votes; corrected from /cluster/config/nodes
            online=as_bool(entry.get("online")),
            local=as_bool(entry.get("local")),
            ip=str(entry["ip"]) if entry.get("ip") else None,
        )
        nodes[name] = member
        if member.local:
            local = name
    if cluster is None:
        return ClusterStatus(False, None, True, None, local, nodes)
    return ClusterStatus(
        clustered=True,
        name=str(cluster.get("name")),
        quorate=as_bool(cluster.get("quorate")),
        config_version=as_int(cluster.get("version")),
        local_node=local,
        nodes=nodes,
    )


def normalise_version(data: dict[str, Any] | None) -> tuple[int | None, str | None]:
    """`/version` -> (major, release string), e.g. (8, "8.4.1")."""
    if not data:
        return None, None
    release = str(data.get("version") or data.get("release") or "")
    major = as_int(release.split(".", 1)[0]) if release else None
    return major, release or None
