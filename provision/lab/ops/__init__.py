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
from provision.lab.ops import backups, notifications  # noqa: E402  (appended: one import per feature)

__all__ = ["ceph", "cluster", "guests", "ha", "network", "nodes", "options", "packages", "pools", "report",
           "storage", "backups", "notifications"]
