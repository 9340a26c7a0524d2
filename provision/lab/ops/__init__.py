"""Backend operations, one handler per Proxmox API call.

Importing the package registers nothing: a node CLI is a fresh process per command (as
PVE's are), and importing every handler module cost it ~30 ms of its ~0.1 s start. A CLI
imports the modules of the handlers it calls; ``load_all`` (the API server, and any call
whose route is not registered yet) imports the rest.
"""

from __future__ import annotations

import importlib

MODULES = (
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
)


def load_all() -> None:
    """Import every handler module (each registers its routes on import)."""
    for name in MODULES:
        importlib.import_module(f"provision.lab.ops.{name}")


__all__ = ["MODULES", "load_all"]
