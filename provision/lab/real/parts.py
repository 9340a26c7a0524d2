"""Life cycle of a lab's real parts: create, faults, destroy (called by ``lab`` commands).

``create`` records every name in the state file before making it, so ``destroy`` (and a
failed ``up``) can remove exactly what this lab made: its daemons by PID, its namespaces
(their veths and bridges go with them) and its files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from provision.lab.real import corosync, host, membership, network, state
from provision.lab.real.state import RealState


def create(root: Path, nodes: list[str]) -> None:
    host.preflight()
    rdir = state.real_dir(root)
    rdir.mkdir(parents=True)
    prefix = state.prefix_for(root)
    st = RealState(prefix=prefix, switch_ns=f"{prefix}-sw")
    state.save(root, st)
    corosync.make_authkey(root)
    with state.locked(root) as st:
        network.create(st, nodes)


def destroy(root: Path) -> list[str]:
    """Stop daemons, delete namespaces and files; returns what could not be removed."""
    if not state.real_dir(root).exists():
        return []
    try:
        st = state.load(root)
    except (FileNotFoundError, ValueError):
        return []
    left = corosync.stop_all(st)
    left += network.destroy(st)
    state.save(root, st)
    if not left:
        shutil.rmtree(state.real_dir(root), ignore_errors=True)
    membership.forget(root)
    return left


def set_link(root: Path, node: str, link: int, up: bool) -> bool:
    with state.locked(root) as st:
        done = network.set_link_state(st, node, str(link), up)
    membership.forget(root)
    return done


def partition(root: Path, groups: list[list[str]]) -> None:
    with state.locked(root) as st:
        network.partition(st, groups)
    membership.forget(root)


def heal(root: Path) -> None:
    with state.locked(root) as st:
        network.heal(st)
    membership.forget(root)


def summary(root: Path) -> dict[str, object]:
    """What ``lab status --json`` shows of the real parts."""
    st = state.load(root)
    return {
        "namespaces": st.namespaces(),
        "daemons": {k: v for k, v in sorted(st.procs.items())
                    if corosync.pid_of(st, k.split("/", 1)[1], k.split("/", 1)[0]) is not None},
        "links": dict(sorted(st.links.items())),
        "partitions": st.partitions,
    }
