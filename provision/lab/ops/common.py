"""Preconditions and helpers every handler shares (quorum, node checks, tasks)."""

from __future__ import annotations

import time
from collections.abc import Callable

from provision.lab import topology
from provision.lab.registry import NO_QUORUM, ApiError, Ctx
from provision.lab.topology import Topology


def topo(ctx: Ctx) -> Topology:
    return topology.load(ctx.store)


def require_quorum(ctx: Ctx, t: Topology | None = None) -> Topology:
    """pmxcfs refuses writes to /etc/pve on a node whose partition is not quorate."""
    t = t or topo(ctx)
    if not t.quorate(ctx.node):
        raise ApiError(500, NO_QUORUM)
    return t


def require_node(ctx: Ctx, node: str) -> None:
    """The node in a ``/nodes/{node}`` path, as the answering node's pveproxy reaches it.

    PVE proxies such a call to the node's address (pve-manager ``HTTPServer.pm``
    rest_handler, ``proxyto``), which comes from the corosync nodelist, else from resolving
    the name (pve-cluster ``Cluster.pm`` remote_node_ip). A standalone node's nodelist is
    itself, and a fresh install's /etc/hosts names only the node itself (pve-installer
    ``Install.pm``), so any other node fails the lookup; a member can reach other members
    only while it sees them (595 otherwise)."""
    row = ctx.store.one("SELECT power FROM nodes WHERE name = ?", (node,))
    t = topo(ctx)
    known = node == ctx.node or (t.is_member(ctx.node) and t.is_member(node))
    if row is None or not known:
        raise ApiError(500, f"hostname lookup '{node}' failed - failed to get address info for: {node}: "
                       "Name or service not known")
    if not row["power"] or not (node == ctx.node or t.sees(ctx.node, node)):
        raise ApiError(595, f"Connection timed out (node '{node}' is not reachable)")


def as_node(ctx: Ctx, node: str) -> Ctx:
    """The same request, executed on ``node`` (PVE's ``proxyto => 'node'``)."""
    return Ctx(ctx.store, ctx.paths, node, ctx.user)


def worker(ctx: Ctx, node: str, ttype: str, tid: str, work: Callable[[], str | None]) -> str:
    """PVE's ``fork_worker``: the call succeeds with a UPID, and what dies inside the worker
    fails the task instead (pve-common ``RESTEnvironment.pm`` fork_worker: the error becomes
    the task's exit status and its log's last line ``TASK ERROR: <msg>``).

    Checks an API handler makes before forking stay outside ``work`` and fail the call.
    The worker's writes are undone when it fails (a savepoint inside the caller's
    transaction); a real worker may leave half its work done, which the lab does not model.
    """
    ctx.store.exec("SAVEPOINT lab_worker")
    try:
        log = work() or ""
    except ApiError as exc:
        ctx.store.exec("ROLLBACK TO lab_worker")
        ctx.store.exec("RELEASE lab_worker")
        message = " ".join(exc.message.strip().splitlines())  # fork_worker joins lines: s/\n/ /g
        return task(ctx, node, ttype, tid, "", exitstatus=message)
    ctx.store.exec("RELEASE lab_worker")
    return task(ctx, node, ttype, tid, log)


def task(ctx: Ctx, node: str, ttype: str, tid: str, log: str = "", exitstatus: str = "OK") -> str:
    """Record a finished worker task and return its UPID.

    PVE forks a worker and returns ``UPID:node:pid:pstart:starttime:type:id:user:``; the lab
    runs the work synchronously before returning, so the task is already stopped.
    """
    pid = 0x10000 + ctx.store.next_counter("task_pid")
    pstart = int(time.monotonic() * 100) & 0xFFFFFFFF
    start = int(time.time())
    upid = f"UPID:{node}:{pid:08X}:{pstart:08X}:{start:08X}:{ttype}:{tid}:{ctx.user}:"
    ctx.store.exec(
        "INSERT INTO tasks(upid, node, type, id, user, pid, starttime, endtime, status, exitstatus, log) "
        "VALUES(?,?,?,?,?,?,?,?,?,?,?)",
        (upid, node, ttype, tid, ctx.user, pid, start, start, "stopped", exitstatus,
         log + ("TASK OK\n" if exitstatus == "OK" else f"TASK ERROR: {exitstatus}\n")),
    )
    return upid
