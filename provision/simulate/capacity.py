"""Memory and cores on each surviving node once the HA services have landed.

HA placement (basic CRS in particular) does not look at memory: the CRM will happily
start a recovered VM on a node that cannot hold it, and the start then fails or the node
swaps. This check adds up the configured size of every guest that runs on a node after
the step (HA services that run there, and non-HA guests that live there) and compares it
with the node's declared ``capacity``. Over capacity is a warning, not an error: vCPU
overcommit is often deliberate, and memory may be ballooned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from provision.spec import Cluster

__all__ = ["NodeLoad", "node_loads"]


@dataclass(frozen=True)
class NodeLoad:
    """Configured guest size on one online node, before and after the step."""

    node: str
    memory_mib: int
    cores: int
    memory_before: int
    cores_before: int
    capacity_memory_mib: int | None
    capacity_cores: int | None
    guests: tuple[str, ...]

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.capacity_memory_mib is not None and self.memory_mib > self.capacity_memory_mib:
            out.append(
                f"{self.node}: guests need {self.memory_mib} MiB memory, capacity is "
                f"{self.capacity_memory_mib} MiB (overcommit {self.memory_mib - self.capacity_memory_mib} MiB)"
            )
        if self.capacity_cores is not None and self.cores > self.capacity_cores:
            out.append(f"{self.node}: guests have {self.cores} vCPUs, capacity is {self.capacity_cores} cores")
        return out


def _sum(cluster: Cluster, sids: Iterable[str]) -> tuple[int, int]:
    memory = cores = 0
    for sid in sids:
        guest = cluster.guest(sid)
        if guest is not None:
            memory += guest.memory_mib
            cores += guest.cores
    return memory, cores


def node_loads(
    cluster: Cluster,
    online: frozenset[str],
    running_before: Mapping[str, str],
    running_after: Mapping[str, str],
) -> list[NodeLoad]:
    """Loads of every node in ``online``; ``running_*`` map sid -> node for running guests."""
    loads = []
    for node in cluster.nodes:
        if node.name not in online:
            continue
        after = sorted(sid for sid, n in running_after.items() if n == node.name)
        before = [sid for sid, n in running_before.items() if n == node.name]
        mem, cores = _sum(cluster, after)
        mem_b, cores_b = _sum(cluster, before)
        cap = node.capacity
        loads.append(
            NodeLoad(
                node.name, mem, cores, mem_b, cores_b,
                cap.memory_mib if cap else None, cap.cores if cap else None, tuple(after),
            )
        )
    return loads
