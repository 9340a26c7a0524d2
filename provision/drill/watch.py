"""Watch the HA manager's status until a node's services have moved and settled.

The CRM writes its state to ``/cluster/ha/status/manager_status`` each round (about every
10 s on PVE): ``node_status`` (``online``/``maintenance``/...) and, per service, ``node``
and ``state``. A move is over when the service is ``started`` (or ``stopped``) on its new
node; the phase is over once the node is in the wanted state and no service is in a
transitional state (pve-ha-manager ``Manager.pm``: ``migrate``, ``relocate``,
``request_start``, ``request_stop``, ``fence``, ``recovery``...).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provision.discover import DiscoveryError
from provision.discover.ha_status import Disarm, disarm_of

__all__ = ["Phase", "Snapshot", "read_status", "wait_phase"]

SETTLED = frozenset({"started", "stopped", "error", "freeze"})


@dataclass(frozen=True)
class Snapshot:
    """One read of the manager status: node states and sid -> (node, state)."""

    nodes: dict[str, str]
    services: dict[str, tuple[str, str]]
    requests: dict[str, Any]
    disarm: Disarm | None = None  # PVE 9: HA disarmed cluster-wide


def read_status(get: Callable[[str], Any]) -> Snapshot:
    data = get("/cluster/ha/status/manager_status") or {}
    ms = data.get("manager_status") or {}
    services = {sid: (str(sd.get("node", "")), str(sd.get("state", "")))
                for sid, sd in (ms.get("service_status") or {}).items()}
    return Snapshot(dict(ms.get("node_status") or {}), services, dict(ms.get("node_request") or {}),
                    disarm_of(data))


@dataclass
class Phase:
    """The outcome of one wait: where each service ended and when (seconds since start)."""

    settled: bool
    elapsed: float
    final: Snapshot
    arrived: dict[str, float] = field(default_factory=dict)


def wait_phase(get: Callable[[str], Any], node: str, node_state: str, *, baseline: Snapshot, start: float,
               timeout: float, poll: float, check: Callable[[], None] = lambda: None) -> Phase:
    """Poll until ``node`` is in ``node_state`` and every service settled, or ``timeout``.

    ``baseline`` is the status before the command, ``start`` the ``time.monotonic()`` at
    which it was issued; ``arrived`` holds, for each service that changed node, the
    seconds from ``start`` until it was first seen settled on the node it ended on (an
    upper bound: the status is read every ``poll`` seconds). ``check`` runs between polls
    (signal handling)."""
    seen_at: dict[str, tuple[str, float]] = {}
    snap = read_status(get)
    while True:
        now = time.monotonic() - start
        for sid, (where, state) in snap.services.items():
            moved = state in SETTLED and where != baseline.services.get(sid, (where, ""))[0]
            if moved and seen_at.get(sid, ("", 0.0))[0] != where:
                seen_at[sid] = (where, now)
        busy = [sid for sid, (_, state) in snap.services.items() if state not in SETTLED]
        if snap.nodes.get(node) == node_state and not busy:
            arrived = {sid: t for sid, (where, t) in seen_at.items() if snap.services.get(sid, ("", ""))[0] == where}
            return Phase(True, now, snap, arrived)
        if now >= timeout:
            return Phase(False, now, snap, {sid: t for sid, (_, t) in seen_at.items()})
        check()
        time.sleep(poll)
        check()
        try:
            snap = read_status(get)
        except DiscoveryError:
            continue  # one failed read (API busy, node switching master): read again next poll
