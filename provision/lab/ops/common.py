"""Preconditions and helpers every handler shares (quorum, node checks, tasks)."""

from __future__ import annotations

import time

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
    """The node in a ``/nodes/{node}`` path must exist and be reachable from the answering node."""
    row = ctx.store.one("SELECT power FROM nodes WHERE name = ?", (node,))
    if row is None:
        raise ApiError(500, f"hostname lookup '{node}' failed - failed to get address info for: {node}: "
                       "Name or service not known")
    t = topo(ctx)
    if not row["power"] or not (node == ctx.node or not t.clustered or t.sees(ctx.node, node)):
        raise ApiError(595, f"Connection timed out (node '{node}' is not reachable)")



def as_node(ctx: Ctx, node: str) -> Ctx:
    """The same request, executed on ``node`` (PVE's ``proxyto => 'node'``)."""
    return Ctx(ctx.store, ctx.paths, node, ctx.user)


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
        (upid, node, ttype, tid, ctx.user, pid, start, start, "stopped", exitstatus, log + "TASK OK\n"),
    )
    return upid
