"""The per-object refresh baseline: one GET per managed object, 10 in parallel.

This is how the Terraform providers for Proxmox refresh state before a plan (each
resource in the state reads itself; Terraform's default ``-parallelism=10``), and it is
what pve-provision's discovery is compared with: the same stack, the same lab, the
same latency. The objects are the stack's own, each read at the PVE API path that
answers for it alone:

- node: ``/nodes/{node}/status``; interface: ``/nodes/{node}/network/{iface}``
- OSD: ``/nodes/{node}/ceph/osd`` (the lab has no per-OSD GET; PVE's
  ``/nodes/{node}/ceph/osd/{id}/metadata`` is one request per OSD too)
- pool: ``/nodes/{node}/ceph/pool/{name}``; storage: ``/storage/{id}``
- HA group: ``/cluster/ha/groups/{group}``; HA resource: ``/cluster/ha/resources/{sid}``
- guest: ``/nodes/{node}/qemu/{vmid}/status/current`` (``lxc`` for containers)
- the cluster-wide objects once each: ``/cluster/config/totem``, ``/cluster/config/nodes``,
  ``/cluster/options``
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from provision.discover.client import ApiClient
from provision.spec import Cluster

PARALLELISM = 10


def object_paths(spec: Cluster) -> list[str]:
    """One path per managed object of ``spec``, in stack order."""
    paths = ["/cluster/config/totem", "/cluster/config/nodes", "/cluster/options"]
    for node in spec.nodes:
        paths.append(f"/nodes/{node.name}/status")
        paths += [f"/nodes/{node.name}/network/{i.name}" for i in node.interfaces]
    first = spec.nodes[0].name
    if spec.ceph is not None:
        paths += [f"/nodes/{o.node}/ceph/osd" for o in spec.ceph.osds]
        paths += [f"/nodes/{first}/ceph/pool/{p.name}" for p in spec.ceph.pools]
    paths += [f"/storage/{s.name}" for s in spec.storage]
    paths += [f"/cluster/ha/groups/{g.name}" for g in spec.ha.groups]
    paths += [f"/cluster/ha/resources/{r.sid}" for r in spec.ha.resources]
    for g in spec.guests:
        kind, vmid = g.sid.split(":", 1)
        paths.append(f"/nodes/{g.node}/{'qemu' if kind == 'vm' else 'lxc'}/{vmid}/status/current")
    return paths


@dataclass(frozen=True)
class Refresh:
    requests: int
    seconds: float
    failed: int


def refresh(client: ApiClient, paths: list[str], parallelism: int = PARALLELISM) -> Refresh:
    """GET every path, ``parallelism`` in flight; a path that does not answer counts as
    failed (the bench reports it: a baseline that silently skipped objects would flatter
    nobody but would be wrong)."""
    before = client.requests

    def one(path: str) -> bool:
        return client.get(path, optional=True) is not None

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallelism) as pool:
        answered = list(pool.map(one, paths))
    return Refresh(client.requests - before, time.perf_counter() - start, answered.count(False))
