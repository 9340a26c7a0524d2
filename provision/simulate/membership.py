"""Corosync membership after a set of events, and the quorum verdict per partition.

Connectivity follows knet: two powered nodes talk when they are on the same side of
every network split and share at least one link number that is up on both ends. A
partition is a connected group of such nodes, computed transitively, as the lab does.
Real corosync needs every member to reach every other one; when a partition is not fully
meshed (A-B and B-C up, A-C down) its behaviour is not predictable, so we say so in a
warning instead of guessing. The vote arithmetic is ``provision.crm.quorum``, the same
code the lab runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from provision.crm import Member, PartitionQuorum, QDevice, partition_quorum, shutdown_mode
from provision.simulate.events import (
    Event,
    LinkDown,
    Maintenance,
    MaintenanceEnd,
    NodeDown,
    NodeShutdown,
    NodeUp,
    Partition,
    QDeviceDown,
)
from provision.spec import Cluster

__all__ = ["Membership", "World", "membership"]


@dataclass(frozen=True)
class World:
    """The physical state the events produce: power, links, splits, qnetd reachability,
    and the HA agents' modes: ``maintenance`` (requested by an admin, survives reboots)
    and ``lrm_down``, the mode a cleanly shut down node's agent last wrote
    (``crm.shutdown_mode``), kept until the node is powered again."""

    powered: frozenset[str]
    links_down: frozenset[tuple[str, int]] = frozenset()
    split: Partition | None = None
    qdevice_up: bool = True
    maintenance: frozenset[str] = frozenset()
    lrm_down: tuple[tuple[str, str], ...] = ()

    def in_maintenance(self) -> frozenset[str]:
        """Nodes in the CRM's ``maintenance`` node state (requested, or the migrate policy)."""
        return self.maintenance | {n for n, mode in self.lrm_down if mode == "maintenance"}

    def frozen(self) -> frozenset[str]:
        """Nodes whose services the CRM froze (shut down with the freeze behaviour)."""
        return frozenset(n for n, mode in self.lrm_down if mode == "restart")

    def clean(self) -> frozenset[str]:
        """Nodes shut down cleanly with the failover behaviour (their agent lock is free)."""
        return frozenset(n for n, mode in self.lrm_down if mode == "shutdown")

    @classmethod
    def healthy(cls, cluster: Cluster) -> World:
        return cls(powered=frozenset(cluster.node_names))

    def apply(self, event: Event) -> World:
        """The world after ``event``."""
        if isinstance(event, NodeDown):
            return replace(self, powered=self.powered - {event.node}, lrm_down=self._without(event.node))
        if isinstance(event, NodeUp):
            return replace(self, powered=self.powered | {event.node}, lrm_down=self._without(event.node))
        if isinstance(event, Maintenance):
            return replace(self, maintenance=self.maintenance | {event.node})
        if isinstance(event, MaintenanceEnd):
            return replace(self, maintenance=self.maintenance - {event.node})
        if isinstance(event, NodeShutdown):
            mode = shutdown_mode(event.policy, event.reboot)
            return replace(self, powered=self.powered - {event.node},
                           lrm_down=(*self._without(event.node), (event.node, mode)))
        if isinstance(event, LinkDown):
            return replace(self, links_down=self.links_down | {(event.node, event.link)})
        if isinstance(event, QDeviceDown):
            return replace(self, qdevice_up=False)
        return replace(self, split=event)

    def _without(self, node: str) -> tuple[tuple[str, str], ...]:
        return tuple((n, m) for n, m in self.lrm_down if n != node)

    def apply_all(self, events: Iterable[Event]) -> World:
        world = self
        for event in events:
            world = world.apply(event)
        return world


@dataclass(frozen=True)
class Membership:
    """Partitions (sorted node lists) with their quorum verdicts, plus warnings."""

    partitions: tuple[PartitionQuorum, ...]
    down: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def quorate(self) -> PartitionQuorum | None:
        """The quorate partition; votequorum guarantees there is at most one."""
        return next((p for p in self.partitions if p.quorate), None)

    @property
    def online(self) -> frozenset[str]:
        """Nodes of the quorate partition: the only nodes the HA manager may use."""
        q = self.quorate
        return q.nodes if q is not None else frozenset()


def _link_nodes(cluster: Cluster) -> dict[int, set[str]]:
    """Link number -> nodes with an address on it (the corosync.conf ``ringN_addr``)."""
    return {link.number: set(link.addresses) for link in cluster.corosync.links}


def _side(world: World, node: str) -> int:
    """Index of the split group holding ``node``; -1 is the group of unlisted nodes."""
    if world.split is None:
        return -1
    for i, group in enumerate(world.split.groups):
        if node in group:
            return i
    return -1


def connected(cluster: Cluster, world: World, a: str, b: str) -> bool:
    """Whether corosync on ``a`` and ``b`` can exchange packets directly."""
    if a not in world.powered or b not in world.powered or _side(world, a) != _side(world, b):
        return False
    for link, members in _link_nodes(cluster).items():
        if a in members and b in members and (a, link) not in world.links_down and (b, link) not in world.links_down:
            return True
    return False


def membership(cluster: Cluster, world: World) -> Membership:
    """Partitions of the powered nodes and which of them keeps quorum."""
    names = sorted(world.powered & set(cluster.node_names))
    seen: set[str] = set()
    components: list[list[str]] = []
    warnings: list[str] = []
    for start in names:
        if start in seen:
            continue
        component, todo = [], [start]
        seen.add(start)
        while todo:
            current = todo.pop()
            component.append(current)
            for other in names:
                if other not in seen and connected(cluster, world, current, other):
                    seen.add(other)
                    todo.append(other)
        component.sort()
        components.append(component)
        missing = [
            f"{a}-{b}"
            for i, a in enumerate(component)
            for b in component[i + 1 :]
            if not connected(cluster, world, a, b)
        ]
        if missing:
            warnings.append(
                f"partition {','.join(component)} is not fully meshed (no working link between "
                f"{', '.join(missing)}); real corosync may split it differently, assumed one partition"
            )
    members = [Member(n.name, n.nodeid, n.votes) for n in cluster.nodes]
    qdevice = None
    reachable: list[str] | None = None
    spec_qd = cluster.quorum.qdevice
    if spec_qd is not None:
        qdevice = QDevice(spec_qd.algorithm, None, spec_qd.tie_breaker)
        if not world.qdevice_up:
            reachable = []
        elif world.split is not None and world.split.qdevice_side is not None:
            reachable = sorted(world.split.groups[world.split.qdevice_side] & world.powered)
        else:
            reachable = names
    verdicts = partition_quorum(members, components, qdevice, reachable)
    down = tuple(sorted(set(cluster.node_names) - world.powered))
    return Membership(tuple(verdicts), down, tuple(warnings))
