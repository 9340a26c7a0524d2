"""Backend operations, one handler per Proxmox API call; importing this registers them all."""

from __future__ import annotations

from provision.lab.ops import (
    ceph,
    cluster,
    guests,
    ha,
    network,
    nodes,
    options,
    packages,
    pools,
    report,
    storage,
)

__all__ = ["ceph", "cluster", "guests", "ha", "network", "nodes", "options", "packages", "pools", "report",
           "storage"]
