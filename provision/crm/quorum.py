"""Corosync votequorum arithmetic, including the two QDevice algorithms PVE can set up.

The lab and ``simulate`` both need to answer "which side of this split keeps quorum?"
and they must answer it the same way, so the answer lives here, as pure functions.

Facts this module encodes (see ``../shared/reference/pve-facts.md`` section 5 and the
corosync-qdevice sources, ``qdevices/qnetd-algo-ffsplit.c`` / ``qnetd-algo-lms.c``):

- expected votes = sum of the nodelist votes + the QDevice's votes; PVE never writes
  ``quorum { expected_votes }`` nor ``two_node``, so a two-node cluster needs 2 of 2.
- a partition is quorate when its votes reach ``floor(expected / 2) + 1``.
- QDevice votes: ``pvecm qdevice setup`` writes ``votes: 1`` for ``ffsplit``; for ``lms``
  it writes nothing, and corosync-qdevice then defaults to ``sum(node votes) - 1``.
- qnetd only ever hands its vote to one partition, and only to a partition that has at
  least one node connected to it.
- ``ffsplit`` counts *nodes* (not votes): a partition with more than half of the
  configured nodes wins; a partition with exactly half competes on how many of its nodes
  reach qnetd, then on the tie-breaker node (lowest node id by default); a partition with
  less than half never gets the vote.
- ``lms`` (last man standing) gives the vote to the only partition that reaches qnetd, or
  among several, to the one with most qnetd-connected nodes; on a tie, to the partition
  holding the tie-breaker node among *all* connected nodes.

Heuristics, ``keep_active_partition_tie_breaker`` and the lms "newcomer" rule depend on
history or on scripts we do not model; they are left out on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Member",
    "PartitionQuorum",
    "QDevice",
    "QDeviceAlgorithm",
    "TieBreaker",
    "expected_votes",
    "partition_quorum",
    "qdevice_votes",
    "quorum_threshold",
]

QDeviceAlgorithm = Literal["ffsplit", "lms"]
#: ``"lowest"`` / ``"highest"`` node id, or one explicit node id (corosync's ``tie_breaker``).
TieBreaker = Literal["lowest", "highest"] | int


@dataclass(frozen=True)
class Member:
    """One corosync nodelist entry: ``name``, ``nodeid`` and ``quorum_votes``."""

    name: str
    nodeid: int
    votes: int = 1

    def __post_init__(self) -> None:
        if self.votes < 0:
            raise ValueError(f"node {self.name!r}: quorum_votes must be >= 0, got {self.votes}")
        if self.nodeid < 1:
            raise ValueError(f"node {self.name!r}: nodeid must be >= 1, got {self.nodeid}")


@dataclass(frozen=True)
class QDevice:
    """``quorum { device { model: net; votes; net { algorithm; tie_breaker } } }``.

    ``votes=None`` means "not written", which is what PVE does for ``lms``.
    """

    algorithm: QDeviceAlgorithm
    votes: int | None = None
    tie_breaker: TieBreaker = "lowest"

    def __post_init__(self) -> None:
        if self.algorithm not in ("ffsplit", "lms"):
            raise ValueError(f"unknown qdevice algorithm {self.algorithm!r}")
        if self.votes is not None and self.votes < 0:
            raise ValueError(f"qdevice votes must be >= 0, got {self.votes}")
        if isinstance(self.tie_breaker, str) and self.tie_breaker not in ("lowest", "highest"):
            raise ValueError(f"tie_breaker must be 'lowest', 'highest' or a node id, got {self.tie_breaker!r}")


@dataclass(frozen=True)
class PartitionQuorum:
    """Quorum verdict for one partition, with the numbers that led to it."""

    nodes: frozenset[str]
    node_votes: int
    qdevice_votes: int
    expected: int
    threshold: int
    quorate: bool
    reason: str = field(compare=False)

    @property
    def votes(self) -> int:
        """Total votes the partition holds, the QDevice's included."""
        return self.node_votes + self.qdevice_votes


def qdevice_votes(members: Sequence[Member], qdevice: QDevice | None) -> int:
    """Votes the QDevice contributes: explicit ``votes``, else 1 (ffsplit) or sum-1 (lms)."""
    if qdevice is None:
        return 0
    if qdevice.votes is not None:
        return qdevice.votes
    if qdevice.algorithm == "ffsplit":
        return 1
    return max(sum(m.votes for m in members) - 1, 0)


def expected_votes(members: Sequence[Member], qdevice: QDevice | None = None) -> int:
    """Expected votes as votequorum derives them from the nodelist (plus the QDevice)."""
    return sum(m.votes for m in members) + qdevice_votes(members, qdevice)


def quorum_threshold(expected: int) -> int:
    """Votes needed for quorum: a strict majority, ``floor(expected / 2) + 1``."""
    if expected < 0:
        raise ValueError(f"expected votes must be >= 0, got {expected}")
    return expected // 2 + 1


def partition_quorum(
    members: Sequence[Member],
    partitions: Sequence[Iterable[str]],
    qdevice: QDevice | None = None,
    qdevice_reachable_from: Iterable[str] | None = None,
) -> list[PartitionQuorum]:
    """Decide quorum for each partition (nodes that can talk to each other).

    Nodes that are down belong to no partition. ``qdevice_reachable_from`` names the nodes
    that can reach the qnetd host; ``None`` means all of them. The result keeps the order
    of ``partitions``. At most one partition is ever quorate: qnetd votes for one side only
    and the node votes of disjoint partitions cannot both reach a majority.
    """
    by_name = _index_members(members)
    parts = _check_partitions(partitions, by_name)
    reachable = set(by_name) if qdevice_reachable_from is None else set(qdevice_reachable_from)
    unknown = reachable - set(by_name)
    if unknown:
        raise ValueError(f"qdevice_reachable_from names unknown node(s): {', '.join(sorted(unknown))}")

    expected = expected_votes(members, qdevice)
    threshold = quorum_threshold(expected)
    qd_votes = qdevice_votes(members, qdevice)

    winner: int | None = None
    why_vote = ""
    if qdevice is not None:
        connected = [len(p & reachable) for p in parts]
        if qdevice.algorithm == "ffsplit":
            winner, why_vote = _ffsplit_winner(parts, connected, members, qdevice.tie_breaker)
        else:
            winner, why_vote = _lms_winner(parts, connected, members, reachable, qdevice.tie_breaker)

    result: list[PartitionQuorum] = []
    for index, part in enumerate(parts):
        node_votes = sum(by_name[n].votes for n in part)
        got = qd_votes if index == winner else 0
        quorate = node_votes + got >= threshold
        result.append(
            PartitionQuorum(
                nodes=part,
                node_votes=node_votes,
                qdevice_votes=got,
                expected=expected,
                threshold=threshold,
                quorate=quorate,
                reason=_reason(
                    node_votes,
                    got,
                    expected,
                    threshold,
                    quorate,
                    qdevice,
                    won=index == winner,
                    why_vote=why_vote if winner in (None, index) else "qnetd voted for another partition",
                    connected=len(part & reachable),
                ),
            )
        )
    return result


def _index_members(members: Sequence[Member]) -> dict[str, Member]:
    by_name: dict[str, Member] = {}
    ids: set[int] = set()
    for m in members:
        if m.name in by_name:
            raise ValueError(f"duplicate member name {m.name!r}")
        if m.nodeid in ids:
            raise ValueError(f"duplicate nodeid {m.nodeid}")
        by_name[m.name] = m
        ids.add(m.nodeid)
    return by_name


def _check_partitions(partitions: Sequence[Iterable[str]], by_name: dict[str, Member]) -> list[frozenset[str]]:
    parts = [frozenset(p) for p in partitions]
    seen: set[str] = set()
    for part in parts:
        unknown = part - set(by_name)
        if unknown:
            raise ValueError(f"partition names unknown node(s): {', '.join(sorted(unknown))}")
        overlap = part & seen
        if overlap:
            raise ValueError(f"node(s) in more than one partition: {', '.join(sorted(overlap))}")
        seen |= part
    return parts


def _tie_breaker_node(ids: Iterable[int], tie_breaker: TieBreaker) -> int | None:
    pool = list(ids)
    if not pool:
        return None
    if tie_breaker == "lowest":
        return min(pool)
    if tie_breaker == "highest":
        return max(pool)
    return tie_breaker


def _ffsplit_winner(
    parts: list[frozenset[str]],
    connected: list[int],
    members: Sequence[Member],
    tie_breaker: TieBreaker,
) -> tuple[int | None, str]:
    """qnetd's ffsplit choice: more than half the nodes wins, a 50:50 tie goes to the
    side with more qnetd-connected nodes, then to the side holding the tie-breaker node."""
    total = len(members)
    candidates = [i for i, _ in enumerate(parts) if connected[i] > 0]
    majority = [i for i in candidates if 2 * len(parts[i]) > total]
    if majority:
        return majority[0], "ffsplit: partition has more than half of the nodes"
    if total % 2:
        return None, "ffsplit: no partition reaching qnetd has more than half of the nodes"
    halves = [i for i in candidates if 2 * len(parts[i]) == total]
    if not halves:
        return None, "ffsplit: no partition reaching qnetd has at least half of the nodes"
    if len(halves) == 1:
        return halves[0], "ffsplit: the only half of a 50:50 split that reaches qnetd"
    best = max(connected[i] for i in halves)
    leaders = [i for i in halves if connected[i] == best]
    if len(leaders) == 1:
        return leaders[0], "ffsplit: 50:50 split, more of its nodes reach qnetd"
    nodeid = {m.name: m.nodeid for m in members}
    tb = _tie_breaker_node(nodeid.values(), tie_breaker)
    for i in leaders:
        if tb in {nodeid[n] for n in parts[i]}:
            return i, f"ffsplit: 50:50 split, tie-breaker node id {tb} is in this partition"
    return None, f"ffsplit: 50:50 split and tie-breaker node id {tb} is in neither half"


def _lms_winner(
    parts: list[frozenset[str]],
    connected: list[int],
    members: Sequence[Member],
    reachable: set[str],
    tie_breaker: TieBreaker,
) -> tuple[int | None, str]:
    """qnetd's lms choice: the only connected partition, else the one with most connected
    nodes, else the one holding the tie-breaker among all connected nodes."""
    candidates = [i for i, _ in enumerate(parts) if connected[i] > 0]
    if not candidates:
        return None, "lms: no partition reaches qnetd"
    if len(candidates) == 1:
        return candidates[0], "lms: the only partition that reaches qnetd (last man standing)"
    best = max(connected[i] for i in candidates)
    leaders = [i for i in candidates if connected[i] == best]
    if len(leaders) == 1:
        return leaders[0], "lms: most nodes connected to qnetd"
    nodeid = {m.name: m.nodeid for m in members}
    in_partitions = {n for p in parts for n in p}
    tb = _tie_breaker_node((nodeid[n] for n in reachable & in_partitions), tie_breaker)
    for i in candidates:
        if tb in {nodeid[n] for n in parts[i]}:
            return i, f"lms: tie, partition holds tie-breaker node id {tb}"
    return None, f"lms: tie and tie-breaker node id {tb} is not connected"


def _reason(
    node_votes: int,
    qd: int,
    expected: int,
    threshold: int,
    quorate: bool,
    qdevice: QDevice | None,
    *,
    won: bool,
    why_vote: str,
    connected: int,
) -> str:
    votes = f"{node_votes + qd} of {expected} votes"
    if qdevice is not None:
        if won:
            votes += f" ({node_votes} from nodes + {qd} from qdevice: {why_vote})"
        elif connected == 0:
            votes += " (no qdevice vote: cannot reach qnetd)"
        else:
            votes += f" (no qdevice vote: {why_vote})"
    verdict = "quorate" if quorate else "not quorate"
    return f"{votes}, need {threshold}: {verdict}"
