"""`/cluster/resources?type=vm` -> guests (not managed; used for checks and import)."""

from __future__ import annotations

from typing import Any

from provision.discover._values import as_int
from provision.spec.guests import Guest


def normalise_guests(data: list[dict[str, Any]] | None) -> list[Guest]:
    out: list[Guest] = []
    for g in data or []:
        kind = g.get("type")
        if kind not in ("qemu", "lxc") or as_int(g.get("template"), 0):
            continue
        out.append(Guest(
            sid=f"{'vm' if kind == 'qemu' else 'ct'}:{g.get('vmid')}",
            name=g.get("name") or None,
            node=str(g.get("node")),
            memory_mib=(as_int(g.get("maxmem"), 0) or 0) // (1024 * 1024),
            cores=as_int(g.get("maxcpu"), 0) or 0,
        ))
    return sorted(out, key=lambda g: (g.sid.split(":")[0], int(g.sid.split(":")[1])))
