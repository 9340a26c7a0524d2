"""Backend operations, one handler per Proxmox API call; importing this registers them all."""

from __future__ import annotations

from provision.lab.ops import (
    backups,
    ceph,
    cluster,
    guests,
    ha,
    ha_disarm,
    network,
    nodes,
    notifications,
    options,
    packages,
    pools,
    report,
    storage,
)

__all__ = [
    "backups",
    "ceph",
    "cluster",
    "guests",
    "ha",
    "ha_disarm",
    "network",
    "nodes",
    "notifications",
    "options",
    "packages",
    "pools",
    "report",
    "storage",
]
