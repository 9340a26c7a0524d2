"""Who can talk to whom, and which partitions are quorate.

Corosync membership in the lab follows from four stored facts: node power, per-node
corosync link state, injected network partitions, and corosync.conf (members, votes,
links, QDevice). Two members see each other when both are powered, sit in the same
partition group and share a link that is up on both ends. The quorum arithmetic itself is
``provision.crm.quorum`` (one implementation shared with the what-if tool).

In a real lab (``lab up --real``) none of that is computed: each node's membership and
quorum are what its real corosync's votequorum reports (``provision.lab.real``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision.lab import crmbridge, real
from provision.lab.files import COROSYNC, parse_corosync
from provision.lab.formats.corosync import ClusterConf
from provision.lab.store import Store


@dataclass
class Partition:
    nodes: list[str]
    votes: int
    expected: int
    quorum: int
    quorate: bool
    qdevice_votes: int = 0


@dataclass
class Topology:
    """A snapshot of cluster membership as corosync would see it."""

    all_nodes: list[str]  # every lab node, by name
    power: dict[str, bool]
    conf: ClusterConf | None
    partitions: list[Partition] = field(default_factory=list)
    views: dict[str, Partition] = field(default_factory=dict)  # real lab: each node's own view
    evicted: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Nodes `pvecm delnode` removed -> the cluster they still believe in (`name`, `version`). Their own corosync
    and pmxcfs keep the old configuration (delnode only edits the others' nodelist and
    `corosync-cfgtool -k`s the node), so powered on they are alone and never quorate."""

    @property
    def clustered(self) -> bool:
        return self.conf is not None

    def is_member(self, node: str) -> bool:
        return self.conf is not None and self.conf.node(node) is not None

    def partition_of(self, node: str) -> Partition | None:
        if node in self.views:
            return self.views[node]
        return next((p for p in self.partitions if node in p.nodes), None)

    def quorate(self, node: str) -> bool:
        """Whether ``node`` may write ``/etc/pve`` (standalone nodes always may)."""
        if not self.power.get(node, False) or node in self.evicted:
            return False
        if not self.is_member(node):
            return True
        p = self.partition_of(node)
        return bool(p and p.quorate)

    def local_node(self) -> str | None:
        """The node answering the REST API: first online node by name in a quorate partition."""
        for n in self.all_nodes:
            if self.power.get(n) and self.quorate(n):
                return n
        return next((n for n in self.all_nodes if self.power.get(n)), None)

    def sees(self, viewer: str, other: str) -> bool:
        """Whether ``viewer`` sees ``other`` online (same corosync partition, or itself)."""
        if viewer == other:
            return self.power.get(viewer, False)
        if viewer in self.evicted:
            return False
        p = self.partition_of(viewer)
        return bool(p and other in p.nodes)


_Inputs = tuple[Any, ...]
_memo: dict[Path, tuple[_Inputs, Topology]] = {}
_memo_lock = threading.Lock()


def load(store: Store) -> Topology:
    """Compute membership and quorum from the store (callers hold a read or write tx).

    Every API request needs the topology, several times; parsing corosync.conf and
    walking the links of 32 nodes each time cost more than most handlers. The stored facts
    it follows from are read every time (a few small queries) and the last result per lab
    is reused while they are equal, so no write can leave a stale answer. The result is
    shared: callers read it and never modify it. A ``--real`` lab asks its daemons every
    time (their views change without a write to the store)."""
    nodes = [r["name"] for r in store.query("SELECT name FROM nodes ORDER BY name")]
    power = {r["name"]: bool(r["power"]) for r in store.query("SELECT name, power FROM nodes")}
    text = store.get_file(COROSYNC)
    evicted = dict(store.get_meta("evicted", {}) or {})
    if text and real.enabled(store.path.parent):
        conf = parse_corosync(text)
        return _real(store.path.parent, Topology(nodes, power, conf, evicted=evicted), conf)
    link_down = sorted((r["node"], int(r["link"]))
                       for r in store.query("SELECT node, link FROM corosync_links WHERE up = 0"))
    groups: list[list[str]] = store.get_meta("partitions", []) or []
    expected_override = store.get_meta("expected_votes")
    qnetd_up = bool(store.get_meta("qnetd_up", True))
    inputs: _Inputs = (tuple(nodes), tuple(sorted(power.items())), text, repr(sorted(evicted.items())),
                       tuple(link_down), repr(groups), expected_override, qnetd_up)
    with _memo_lock:
        hit = _memo.get(store.path)
    if hit is not None and hit[0] == inputs:
        return hit[1]
    topo = _compute(nodes, power, text, evicted, set(link_down), groups, expected_override, qnetd_up)
    with _memo_lock:
        _memo[store.path] = (inputs, topo)
    return topo


def _compute(nodes: list[str], power: dict[str, bool], text: str | None, evicted: dict[str, dict[str, Any]],
             link_down: set[tuple[str, int]], groups: list[list[str]], expected_override: Any,
             qnetd_up: bool) -> Topology:
    conf = parse_corosync(text) if text else None
    topo = Topology(nodes, power, conf, evicted=evicted)
    if conf is None:
        return topo
    group_of: dict[str, int] = {}
    for i, g in enumerate(groups):
        for n in g:
            group_of[n] = i
    members = {n.name: n for n in conf.nodes}

    def connected(a: str, b: str) -> bool:
        if group_of.get(a, -1) != group_of.get(b, -1):
            return False
        shared = set(members[a].addrs) & set(members[b].addrs)
        return any((a, link) not in link_down and (b, link) not in link_down for link in shared)

    up = [n for n in sorted(members) if power.get(n, False)]
    seen: set[str] = set()
    comps: list[list[str]] = []
    for start in up:
        if start in seen:
            continue
        comp, todo = [], [start]
        seen.add(start)
        while todo:
            cur = todo.pop()
            comp.append(cur)
            for other in up:
                if other not in seen and connected(cur, other):
                    seen.add(other)
                    todo.append(other)
        comps.append(sorted(comp))
    topo.partitions = crmbridge.partitions_quorum(conf, comps, expected_override, qnetd_up)
    return topo


def _real(root: Path, topo: Topology, conf: ClusterConf) -> Topology:
    """Membership and quorum as each node's real votequorum reports them."""
    from provision.lab.real import membership

    for node, v in membership.views(root, conf, topo.power).items():
        part = Partition(list(v.nodes), v.votes, v.expected, v.quorum, v.quorate, v.qdevice_votes)
        topo.views[node] = part
        if all(p.nodes != part.nodes for p in topo.partitions):
            topo.partitions.append(part)
    return topo
