"""Node scoring for the CRS modes ``basic`` and ``static``.

Upstream: ``pve-ha-manager`` ``Usage.pm`` / ``Usage/Basic.pm`` / ``Usage/Static.pm`` and
the Rust scheduler they call (``proxmox-resource-scheduling``: ``scheduler.rs``,
``topsis.rs``, ``node.rs``; ``proxmox-perl-rs`` ``resource_scheduling``). Facts used:

- only *online* nodes (not maintenance, not fenced) are in the usage table;
- a service loads the node it is on and, while migrating, its target too; ``stopped``
  services load nothing;
- ``basic`` scores a node by the number of HA services on it;
- ``static`` adds every service on a node as if started (CPU = its cores, or the whole
  node when 0; memory = its configured memory), then scores each candidate node with
  TOPSIS over four criteria of the whole cluster *as if the new service ran there*:
  RMS CPU load, max CPU load, RMS memory load, max memory load (each ``1 + value``),
  weights 1, 2, 5, 10, all to be minimised. Higher TOPSIS closeness is better; upstream
  negates it so that, as with ``basic``, lower is better.

Deviation, on purpose: upstream breaks exact score ties by node name, but two nodes with
the same load can differ in the last float bits depending on hash order. Static scores
are rounded to 12 significant digits so that equal loads tie deterministically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from provision.crm.model import CrsMode, NodeInfo, Service

__all__ = ["NodeUsage"]

# (criterion, weight); negative weight upstream = minimise. All four are minimised.
_CRITERIA_WEIGHTS = (1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True)
class _Load:
    cores: float
    memory_mib: int


class NodeUsage:
    """Which HA services load which online node, and how that scores for a new service."""

    def __init__(self, nodes: Sequence[NodeInfo], crs: CrsMode) -> None:
        online = sorted((n for n in nodes if n.schedulable), key=lambda n: n.name)
        self.online: tuple[str, ...] = tuple(n.name for n in online)
        self._capacity = {n.name: n for n in online}
        self._on: dict[str, dict[str, _Load]] = {name: {} for name in self.online}
        self.requested: CrsMode = crs
        self.mode: CrsMode = crs
        self.fallback_note = ""
        if crs == "static":
            missing = [n.name for n in online if n.cores <= 0 or n.memory_mib <= 0]
            if missing:
                # Upstream cannot score without node capacity either; it then ranks nodes
                # by service count or name. We say so and use basic.
                self.mode = "basic"
                self.fallback_note = f"static CRS needs cores and memory of {', '.join(missing)}; used basic"

    def add(self, service: Service, *nodes: str | None) -> None:
        """Account ``service`` on each given node that is online (current, then target)."""
        load = _Load(service.cores, service.memory_mib)
        for node in nodes:
            if node is not None and node in self._on:
                self._on[node][service.sid] = load

    def remove(self, sid: str) -> None:
        """Forget every load ``sid`` puts on any node."""
        for services in self._on.values():
            services.pop(sid, None)

    def count(self, node: str) -> int:
        """Number of HA services loading ``node``."""
        return len(self._on.get(node, {}))

    def scores(self, service: Service) -> dict[str, float]:
        """Score every online node for starting ``service`` there; lower is better."""
        if self.mode == "basic":
            return {node: float(len(sids)) for node, sids in self._on.items()}
        return self._static_scores(service)

    def describe(self, node: str) -> str:
        """Short load text for explanations."""
        if self.mode == "basic":
            n = self.count(node)
            return f"{node} has {n} HA service{'s' if n != 1 else ''}"
        cpu, mem = self._static_load(node)
        cap = self._capacity[node]
        return f"{node} had {cpu / cap.cores:.0%} CPU, {mem / cap.memory_mib:.0%} memory"

    # --- static (TOPSIS) ---------------------------------------------------------------

    def _static_load(self, node: str) -> tuple[float, float]:
        cap = self._capacity[node]
        cpu = 0.0
        mem = 0.0
        for load in self._on[node].values():
            cpu += load.cores if load.cores > 0 else cap.cores
            mem += load.memory_mib
        return cpu, mem

    def _static_scores(self, service: Service) -> dict[str, float]:
        base = {node: self._static_load(node) for node in self.online}
        matrix: list[list[float]] = []
        for candidate in self.online:
            cpu_loads = []
            mem_loads = []
            for node in self.online:
                cap = self._capacity[node]
                cpu, mem = base[node]
                if node == candidate:
                    cpu += service.cores if service.cores > 0 else cap.cores
                    mem += service.memory_mib
                cpu_loads.append(cpu / cap.cores)
                mem_loads.append(mem / cap.memory_mib)
            matrix.append(
                [
                    1.0 + _rms(cpu_loads),
                    1.0 + max(cpu_loads),
                    1.0 + _rms(mem_loads),
                    1.0 + max(mem_loads),
                ]
            )
        closeness = _topsis(matrix, _CRITERIA_WEIGHTS)
        return {node: -_round(c) for node, c in zip(self.online, closeness, strict=True)}


def _rms(values: Sequence[float]) -> float:
    return math.sqrt(sum(v * v for v in values) / len(values))


def _round(value: float) -> float:
    return float(f"{value:.12g}")


def _topsis(matrix: list[list[float]], weights: Sequence[float]) -> list[float]:
    """Closeness to the ideal alternative (1 = best) when every criterion is minimised."""
    if not matrix:
        return []
    total = sum(weights)
    w = [x / total for x in weights]
    columns = len(w)
    norm = [math.sqrt(sum(row[c] ** 2 for row in matrix)) for c in range(columns)]
    scaled = [[row[c] / norm[c] if norm[c] else row[c] for c in range(columns)] for row in matrix]
    best = [min(row[c] for row in scaled) for c in range(columns)]
    worst = [max(row[c] for row in scaled) for c in range(columns)]
    out = []
    for row in scaled:
        d_best = math.sqrt(sum((w[c] * (row[c] - best[c])) ** 2 for c in range(columns)))
        d_worst = math.sqrt(sum((w[c] * (row[c] - worst[c])) ** 2 for c in range(columns)))
        out.append(d_worst / (d_best + d_worst) if d_best + d_worst else 0.0)
    return out
