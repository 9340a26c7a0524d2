"""Failure events and scenarios, and how the command line spells them.

A scenario is a sequence of *steps*; each step is a set of events that happen together,
after which the cluster settles (corosync membership, quorum, fencing, HA recovery) before
the next step. The command line builds at most two steps: everything that breaks
(``--fail``, ``--link-down``, ``--partition``), then everything that comes back
(``--recover``). Splitting them is what makes failback visible: a node that returns only
matters after its services were recovered elsewhere.

Event names are validated against the cluster here, so a typo never reaches the
simulator as a silently healthy node.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "QDEVICE",
    "Event",
    "EventError",
    "LinkDown",
    "Maintenance",
    "MaintenanceEnd",
    "NodeDown",
    "NodeShutdown",
    "NodeUp",
    "Partition",
    "QDeviceDown",
    "Scenario",
    "describe_event",
    "parse_events",
    "scenario_from_cli",
]

#: Name used for the QDevice (the qnetd host) in ``--fail`` and ``--partition``.
QDEVICE = "qdevice"


class EventError(ValueError):
    """An event names something the cluster does not have, or is malformed."""


@dataclass(frozen=True)
class NodeDown:
    """A node loses power (or crashes): it leaves corosync and its services need recovery."""

    node: str


@dataclass(frozen=True)
class NodeUp:
    """A failed node is powered again; link failures and splits that name it still hold."""

    node: str


@dataclass(frozen=True)
class LinkDown:
    """Corosync link ``link`` fails on ``node`` (a NIC, cable or switch port)."""

    node: str
    link: int


@dataclass(frozen=True)
class Partition:
    """A network split into groups; nodes in different groups cannot talk.

    ``qdevice_side`` is the group that still reaches the qnetd host, or None when every
    group reaches it (the usual case: qnetd sits on the management network, the split is
    on the corosync network). Nodes listed in no group form one more group together.
    """

    groups: tuple[frozenset[str], ...]
    qdevice_side: int | None = None


@dataclass(frozen=True)
class QDeviceDown:
    """The qnetd host is unreachable from every node: the QDevice gives no vote."""


@dataclass(frozen=True)
class Maintenance:
    """``ha-manager crm-command node-maintenance enable NODE``: the node stays up and in
    the cluster, but the CRM moves its services away and places nothing there."""

    node: str


@dataclass(frozen=True)
class MaintenanceEnd:
    """``node-maintenance disable NODE``: services go back where they came from."""

    node: str


@dataclass(frozen=True)
class NodeShutdown:
    """A clean shutdown (``reboot`` False) or reboot: the HA agent acts on ``policy``
    (``datacenter.cfg`` ``ha: shutdown_policy``) before the node goes down. A reboot's
    return is a ``NodeUp`` in a later step."""

    node: str
    reboot: bool
    policy: str = "conditional"


Event = NodeDown | NodeUp | LinkDown | Partition | QDeviceDown | Maintenance | MaintenanceEnd | NodeShutdown


@dataclass(frozen=True)
class Scenario:
    """A named list of steps, each a tuple of simultaneous events."""

    name: str
    steps: tuple[tuple[Event, ...], ...]

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(e for step in self.steps for e in step)


def describe_event(event: Event) -> str:
    """The event as the command line spells it, for titles and JSON."""
    if isinstance(event, NodeDown):
        return f"fail {event.node}"
    if isinstance(event, NodeUp):
        return f"recover {event.node}"
    if isinstance(event, LinkDown):
        return f"link-down {event.node}:{event.link}"
    if isinstance(event, QDeviceDown):
        return f"fail {QDEVICE}"
    if isinstance(event, Maintenance):
        return f"maintenance {event.node}"
    if isinstance(event, MaintenanceEnd):
        return f"maintenance end {event.node}"
    if isinstance(event, NodeShutdown):
        return f"{'reboot' if event.reboot else 'shutdown'} {event.node} (policy {event.policy})"
    groups = []
    for i, group in enumerate(event.groups):
        names = sorted(group)
        if event.qdevice_side == i:
            names.append(QDEVICE)
        groups.append(",".join(names))
    return "partition " + "/".join(groups)


def _check_node(name: str, nodes: Sequence[str], what: str) -> str:
    name = name.strip()
    if name in nodes:
        return name
    close = difflib.get_close_matches(name, list(nodes), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known nodes: {', '.join(nodes)}"
    raise EventError(f"{what}: unknown node {name!r} ({hint})")


def _parse_link(text: str, nodes: Sequence[str], links: Sequence[int]) -> LinkDown:
    node, sep, number = text.rpartition(":")
    if not sep or not node:
        raise EventError(f"--link-down {text!r}: expected NODE:LINK, e.g. pve01:0")
    node = _check_node(node, nodes, f"--link-down {text}")
    try:
        link = int(number)
    except ValueError:
        raise EventError(f"--link-down {text!r}: link number {number!r} is not an integer") from None
    if link not in links:
        known = ", ".join(str(n) for n in links)
        raise EventError(f"--link-down {text!r}: the cluster has no corosync link {link} (links: {known})")
    return LinkDown(node, link)


def _parse_partition(text: str, nodes: Sequence[str]) -> Partition:
    groups: list[frozenset[str]] = []
    qdevice_side: int | None = None
    seen: set[str] = set()
    for index, chunk in enumerate(text.split("/")):
        names = [n.strip() for n in chunk.split(",") if n.strip()]
        if not names:
            raise EventError(f"--partition {text!r}: empty group (expected e.g. pve01,pve02/pve03)")
        members: set[str] = set()
        for name in names:
            if name == QDEVICE and name not in nodes:
                if qdevice_side is not None:
                    raise EventError(f"--partition {text!r}: {QDEVICE} is named twice")
                qdevice_side = index
                continue
            name = _check_node(name, nodes, f"--partition {text}")
            if name in seen:
                raise EventError(f"--partition {text!r}: {name} is in more than one group")
            seen.add(name)
            members.add(name)
        groups.append(frozenset(members))
    if len(groups) < 2 and not (set(nodes) - seen):
        raise EventError(f"--partition {text!r}: a split needs at least two groups separated by '/'")
    return Partition(tuple(groups), qdevice_side)


def parse_events(
    nodes: Sequence[str],
    links: Sequence[int],
    *,
    fail: Iterable[str] = (),
    link_down: Iterable[str] = (),
    partition: Iterable[str] = (),
) -> list[Event]:
    """Failure events from command-line values; raises EventError with a clear message."""
    events: list[Event] = []
    for text in fail:
        if text.strip() == QDEVICE and QDEVICE not in nodes:
            events.append(QDeviceDown())
        else:
            events.append(NodeDown(_check_node(text, nodes, f"--fail {text}")))
    events.extend(_parse_link(text, nodes, links) for text in link_down)
    events.extend(_parse_partition(text, nodes) for text in partition)
    return events


def scenario_from_cli(
    nodes: Sequence[str],
    links: Sequence[int],
    *,
    fail: Sequence[str] = (),
    link_down: Sequence[str] = (),
    partition: Sequence[str] = (),
    recover: Sequence[str] = (),
    already_down: Sequence[str] = (),
    maintenance: Sequence[str] = (),
    reboot: Sequence[str] = (),
    shutdown: Sequence[str] = (),
    shutdown_policy: str = "conditional",
) -> Scenario:
    """One scenario: the failure step, then (if any ``--recover``, ``--maintenance`` or
    ``--reboot``) the return step.

    ``already_down`` are nodes that are down before anything happens (a live cluster
    with an offline member); they fail in the first step, and may be recovered.
    ``maintenance`` nodes enter HA maintenance and leave it in the return step;
    ``reboot`` nodes shut down cleanly and come back in it; ``shutdown`` nodes stay down
    (``--recover`` brings them back).
    """
    base: list[Event] = [NodeDown(n) for n in already_down]
    failures = base + [
        e for e in parse_events(nodes, links, fail=fail, link_down=link_down, partition=partition) if e not in base
    ]
    kept = [_check_node(n, nodes, f"--maintenance {n}") for n in maintenance]
    rebooted = [_check_node(n, nodes, f"--reboot {n}") for n in reboot]
    stopped = [_check_node(n, nodes, f"--shutdown {n}") for n in shutdown]
    failures += [Maintenance(n) for n in kept]
    failures += [NodeShutdown(n, True, shutdown_policy) for n in rebooted]
    failures += [NodeShutdown(n, False, shutdown_policy) for n in stopped]
    returns: list[Event] = [NodeUp(_check_node(n, nodes, f"--recover {n}")) for n in recover]
    down = {e.node for e in failures if isinstance(e, NodeDown | NodeShutdown)}
    for event in returns:
        assert isinstance(event, NodeUp)
        if event.node not in down:
            raise EventError(f"--recover {event.node}: the node is not failed by a --fail in this scenario")
        if event.node in rebooted:
            raise EventError(f"--recover {event.node}: a --reboot brings the node back by itself")
    returns += [MaintenanceEnd(n) for n in kept] + [NodeUp(n) for n in rebooted]
    steps = tuple(step for step in (tuple(failures), tuple(returns)) if step)
    name = "; ".join(describe_event(e) for e in (*failures, *returns)) or "no failure"
    return Scenario(name, steps)
