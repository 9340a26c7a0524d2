"""The PVE lab: a simulated Proxmox VE 8/9 cluster that behaves like the real one from outside.

Everything a lab knows lives in one pmxcfs-like SQLite store (``store.py``) plus each node's
local disk under ``nodes/<node>/root``. The REST API (``server.py``) and the node CLIs
(``cli/``) are two front ends over the same handler registry (``registry.py`` + ``ops/``),
just as PVE's CLIs call its API handlers.
"""

from __future__ import annotations
