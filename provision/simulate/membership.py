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

from provision.crm import Member, PartitionQuorum, QDevice, partition_quorum
from provision.simulate.events import Event, LinkDown, NodeDown, NodeUp, Partition, QDeviceDown
from provision.spec import Cluster

__all__ = ["Membership", "World", "membership"]


@dataclass(frozen=True)
class World:
    """The physical state the events produce: power, links, splits, qnetd reachability."""

    powered: frozenset[str]
    links_down: frozenset[tuple[str, int]] = frozenset()
    split: Partition | None = None
    qdevice_up: bool = True

    @classmethod
    def healthy(cls, cluster: Cluster) -> World:
        return cls(powered=frozenset(cluster.node_names))

    def apply(self, event: Event) -> World:
        """The world after ``event``."""
        if isinstance(event, NodeDown):
            return replace(self, powered=self.powered - {event.node})
        if isinstance(event, NodeUp):
            return replace(self, powered=self.powered | {event.node})
        if isinstance(event, LinkDown):
            return replace(self, links_down=self.links_down | {(event.node, event.link)})
        if isinstance(event, QDeviceDown):
            return replace(self, qdevice_up=False)
        return replace(self, split=event)

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
