"""Quorum design: vote counts and the QDevice (pvecm.adoc, votequorum(5))."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from provision.rules.registry import Hit, rule
from provision.spec import Cluster


def _threshold(votes: int) -> int:
    return votes // 2 + 1


@rule("PVE-Q001", "warning", "Fewer than 3 votes without a QDevice")
def few_votes(c: Cluster) -> Iterator[Hit]:
    """With one or two votes there is no majority left after any failure: two
    nodes need 2 of 2 votes, so losing either node (or the link between them) makes
    `/etc/pve` read-only and stops HA. Proxmox does not write corosync's `two_node`
    option; its documented answer is a QDevice as the third vote.

    Fix: add a third node, or declare `quorum.qdevice` with a corosync-qnetd host
    outside the cluster.
    """
    if c.quorum.qdevice is None and c.total_votes < 3:
        yield Hit(
            ("nodes",),
            f"the cluster has {c.total_votes} vote(s) and no QDevice: quorum needs "
            f"{_threshold(c.total_votes)}, so one failed node stops the cluster",
            "add a third node or a QDevice (quorum.qdevice.host)",
        )


@rule("PVE-Q002", "warning", "Even vote count without a QDevice")
def even_votes(c: Cluster) -> Iterator[Hit]:
    """An even number of votes tolerates no more failures than one vote fewer (4
    votes need 3, like 3 votes need 2) and a clean 50/50 network split leaves *both*
    halves without quorum. A QDevice with the ffsplit algorithm breaks the tie. Two
    votes are reported by PVE-Q001 instead.

    Fix: add a QDevice (`quorum.qdevice`), or an odd number of nodes.
    """
    votes = c.total_votes
    if c.quorum.qdevice is None and votes >= 4 and votes % 2 == 0:
        yield Hit(
            ("nodes",),
            f"{votes} votes (quorum {_threshold(votes)}) tolerate only {votes - _threshold(votes)} "
            f"failed vote(s), like {votes - 1} would, and a {votes // 2}/{votes // 2} split stops both halves",
            "add a QDevice (quorum.qdevice) to break ties",
        )


@rule("PVE-Q003", "warning", "QDevice with an odd node count")
def qdevice_odd(c: Cluster) -> Iterator[Hit]:
    """Proxmox supports a QDevice for even node counts only. With an odd count it
    must use the `lms` algorithm and give N-1 votes, which makes the qnetd host an
    almost single point of failure: if it is down, no single node may fail. Mass
    HA recovery onto the last node and Ceph losing its own quorum make the "last man
    standing" benefit illusory. `pvecm qdevice setup` refuses without `--force`. (Asking
    for `ffsplit` there is a stack error: pvecm can only set up `lms`.)

    Fix: remove `quorum.qdevice` (an odd node count already has a majority), or add
    or remove a node.
    """
    qd = c.quorum.qdevice
    if qd is not None and len(c.nodes) % 2 == 1:
        yield Hit(
            ("quorum", "qdevice"),
            f"a QDevice on {len(c.nodes)} nodes needs algorithm lms with {sum(n.votes for n in c.nodes) - 1} "
            "votes: if the qnetd host fails, no node may fail (pvecm qdevice setup refuses without --force)",
            "drop the QDevice: an odd node count has a majority on its own",
        )


@rule("PVE-Q005", "error", "QDevice host is a cluster node")
def qdevice_on_node(c: Cluster) -> Iterator[Hit]:
    """The arbiter must see the cluster from outside: a qnetd on a cluster node
    fails together with that node, so its vote disappears exactly when it is needed
    and a split can leave the arbiter's half as the only quorate one by accident.

    Fix: run corosync-qnetd on a separate host (a small VM outside the cluster, a
    backup server, a Raspberry Pi) and point `quorum.qdevice.host` at it.
    """
    qd = c.quorum.qdevice
    if qd is None:
        return
    host = qd.host.strip().lower()
    try:
        ip: ipaddress.IPv4Address | None = ipaddress.IPv4Address(host)
    except ValueError:
        ip = None
    for node in c.nodes:
        addresses = {node.address} | {i.address.ip for i in node.interfaces if i.address is not None}
        if host == node.name.lower() or (ip is not None and ip in addresses):
            yield Hit(
                ("quorum", "qdevice", "host"),
                f"QDevice host {qd.host} is cluster node {node.name}",
                "run corosync-qnetd on a host outside the cluster",
            )
            return


@rule("PVE-Q006", "warning", "Node votes other than 1")
def unequal_votes(c: Cluster) -> Iterator[Hit]:
    """Proxmox gives every node one vote. Extra votes on one node are a common
    two-node workaround, but they make that node's failure (or reboot) take the
    whole cluster down, and a node with 0 votes cannot help keep quorum.

    Fix: leave `votes` at 1 and use a QDevice for tie-breaking.
    """
    for i, node in enumerate(c.nodes):
        if node.votes != 1:
            yield Hit(
                ("nodes", i, "votes"),
                f"{node.name} has {node.votes} votes; every other failure scenario now depends on this node",
                "remove 'votes' (default 1); use a QDevice to break ties",
            )


@rule("PVE-Q007", "warning", "QDevice tie_breaker that pvecm does not set up")
def qdevice_tie_breaker(c: Cluster) -> Iterator[Hit]:
    """`pvecm qdevice setup` has no tie-breaker option: the QDevice it configures
    always breaks ties towards the lowest node id. Apply cannot create any other
    tie_breaker, so the plan would replace the QDevice on every run (each time
    dropping its vote for a moment) and never converge.

    Fix: leave `quorum.qdevice.tie_breaker` unset (lowest), or set it by hand in
    corosync.conf and keep the stack in step with that edit.
    """
    qd = c.quorum.qdevice
    if qd is not None and qd.tie_breaker != "lowest":
        yield Hit(
            ("quorum", "qdevice", "tie_breaker"),
            f"QDevice tie_breaker {qd.tie_breaker}; pvecm qdevice setup always configures lowest",
            "remove tie_breaker (default lowest)",
        )
