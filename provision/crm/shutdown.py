"""What a node's HA agent does with its services when the node is shut down or rebooted.

``datacenter.cfg`` ``ha: shutdown_policy=`` decides it, in pve-ha-manager ``LRM.pm``
``shutdown_request`` (identical in 4.0.7 / PVE 8 and 5.2.0 / PVE 9):

- ``migrate``: the LRM switches to maintenance mode; the CRM moves every service away (as
  for ``node-maintenance``), the node goes down once it is empty and stays in the
  ``maintenance`` node state, so it is never fenced; back up, its services return.
- ``freeze`` (and ``conditional`` on a reboot): mode ``restart``; the CRM freezes the
  node's services, the LRM stops them; they are never recovered elsewhere and start
  again on the node when it is back.
- ``failover`` (and ``conditional`` on a power-off): mode ``shutdown``; the LRM stops the
  services and releases its agent lock; the CRM still sees them ``started`` on a node
  that left, fences it after the 60 s offline delay (at once: the lock is free) and
  recovers them elsewhere. A node back within those 60 s starts them itself.

An unknown policy falls back to ``conditional``, as the LRM does (it logs an error).
Shared by the lab's HA manager and ``simulate`` so both follow one reading.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["DEFAULT_POLICY", "POLICIES", "LrmShutdownMode", "ShutdownPolicy", "shutdown_mode"]

ShutdownPolicy = Literal["conditional", "freeze", "failover", "migrate"]
#: The LRM's mode after the request: ``maintenance`` (migrate), ``restart`` (freeze),
#: ``shutdown`` (stop, then failover).
LrmShutdownMode = Literal["maintenance", "restart", "shutdown"]

POLICIES: tuple[ShutdownPolicy, ...] = ("conditional", "freeze", "failover", "migrate")
DEFAULT_POLICY: ShutdownPolicy = "conditional"  # LRM.pm: `// 'conditional'`

#: ``NodeStatus.pm`` ``$fence_delay``: seconds a node is offline before the CRM fences it.
FENCE_DELAY_SECONDS = 60.0


def shutdown_mode(policy: str | None, reboot: bool) -> LrmShutdownMode:
    """The LRM's mode for a clean shutdown (``reboot`` False) or reboot under ``policy``."""
    if policy == "migrate":
        return "maintenance"
    if policy == "freeze":
        return "restart"
    if policy == "failover":
        return "shutdown"
    return "restart" if reboot else "shutdown"  # conditional, and anything unknown
