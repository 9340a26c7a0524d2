"""Which HA shutdown policy a what-if uses: the command line's, else the stack's, else PVE's.

The stack's ``ha.shutdown_policy`` (``datacenter.cfg`` ``ha: shutdown_policy``) when it sets
one, else PVE's default, ``conditional`` (pve-ha-manager ``LRM.pm`` ``shutdown_request``).
"""

from __future__ import annotations

from provision.crm import DEFAULT_POLICY, POLICIES
from provision.spec import Cluster

__all__ = ["shutdown_policy"]


def _stack_policy(cluster: Cluster) -> str | None:
    return cluster.ha.shutdown_policy


def shutdown_policy(cluster: Cluster, override: str | None = None) -> tuple[str, str]:
    """``(policy, where it came from)``; raises ValueError for an unknown ``override``."""
    if override is not None:
        if override not in POLICIES:
            raise ValueError(f"--shutdown-policy {override!r}: expected one of {', '.join(POLICIES)}")
        return override, "--shutdown-policy"
    found = _stack_policy(cluster)
    if found is not None:
        return found, "the stack"
    return DEFAULT_POLICY, "PVE's default"
