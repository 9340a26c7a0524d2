"""Real parts under the lab (``provision lab up --real``).

The simulated lab answers "what does Proxmox say"; it cannot show that a network and
quorum design survives a failure. In ``--real`` mode each lab node is a Linux network
namespace whose Corosync links are veth pairs on isolated bridges, a real ``corosync``
runs per member node, and the lab's membership and quorum are read back from the real
votequorum instead of being computed. Nothing here imports the planner.

Modules: ``host`` (running tools, preflight), ``state`` (what this lab created, for an
exact teardown), ``network`` (namespaces, bridges, veths, faults), ``corosync``
(daemons, config sync, quorumtool), ``membership`` (real views -> lab partitions).
"""

from __future__ import annotations

from pathlib import Path


def enabled(root: Path) -> bool:
    """Whether the lab in ``root`` runs real parts (its real-state file exists)."""
    return (root / "real" / "state.json").exists()
