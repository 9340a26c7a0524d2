"""Node capacity from `/cluster/resources?type=node` (`maxmem` bytes, `maxcpu` CPUs).

Not managed and never compared; `provision import` writes it so that what-if analysis
of an imported stack plans with the node's real memory and CPUs. PVE fills both from
the node's RRD data, only for a token with Sys.Audit (pve-manager
`PVE/API2Tools.pm` extract_node_stats); a node without them gets no capacity.
"""

from __future__ import annotations

from typing import Any

from provision.discover._values import as_int
from provision.spec.node import Capacity

MIB = 1024 * 1024


def normalise_capacity(data: list[dict[str, Any]] | None) -> dict[str, Capacity]:
    out: dict[str, Capacity] = {}
    for entry in data or []:
        if entry.get("type") != "node" or not entry.get("node"):
            continue
        memory = as_int(entry.get("maxmem"), 0) or 0
        cpus = as_int(entry.get("maxcpu"), 0) or 0
        if memory > 0 and cpus > 0:
            out[str(entry["node"])] = Capacity(memory_mib=memory // MIB, cores=cpus)
    return out
