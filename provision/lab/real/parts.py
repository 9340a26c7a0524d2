"""Life cycle of a lab's real parts: create, faults, destroy (called by ``lab`` commands).

``create`` records every name in the state file before making it, so ``destroy`` (and a
failed ``up``) can remove exactly what this lab made: its daemons by PID, its namespaces
(their veths and bridges go with them) and its files.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from provision.lab.formats.corosync import ClusterConf
from provision.lab.real import ceph, corosync, host, membership, network, state
from provision.lab.real.state import RealState
from provision.lab.store import Store


def create(root: Path, nodes: list[str], *, with_ceph: bool = False) -> None:
    host.preflight(with_ceph=with_ceph)
    rdir = state.real_dir(root)
    rdir.mkdir(parents=True)
    prefix = state.prefix_for(root)
    st = RealState(prefix=prefix, switch_ns=f"{prefix}-sw", ceph=with_ceph)
    state.save(root, st)
    corosync.make_authkey(root)
    with state.locked(root) as st:
        network.create(st, nodes)


def sync_store(store: Store, root: Path) -> list[str]:
    """pmxcfs's hand-over to the real daemons: corosync.conf to the corosyncs, then (with
    real Ceph) the lab's Ceph records to the Ceph daemons."""
    log = corosync.sync_store(store, root)
    _journal(root, log)
    more = ceph.sync_store(store, root)
    _journal(root, more)
    return log + more


def _journal(root: Path, lines: list[str]) -> None:
    """Keep what the hand-over did in ``real/log/pmxcfs.log`` (pmxcfs logs it to syslog):
    node CLIs have no other place for it, and a join that hangs is diagnosed from here."""
    if not lines:
        return
    path = state.real_dir(root) / "log" / "pmxcfs.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with path.open("a") as fh:
        fh.writelines(f"{stamp} [{os.getpid()}] {line}\n" for line in lines)


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


def knet_links(st: RealState, node: str, names: dict[int, str]) -> dict[str, dict[str, str]]:
    """``corosync-cfgtool -s`` on ``node``: per link, each peer's knet state (connected, ...)."""
    out: dict[str, dict[str, str]] = {}
    link: dict[str, str] | None = None
    for line in corosync.tool(st, node, ["corosync-cfgtool", "-s"]).stdout.splitlines():
        words = line.split()
        if line.startswith("LINK ID") and len(words) >= 3:
            link = out.setdefault(words[2], {})
        elif link is not None and words[:1] == ["nodeid:"] and len(words) >= 3:
            peer = int(words[1].rstrip(":"))
            if peer in names and words[2] != "localhost":
                link[names[peer]] = words[2]
    return out


def summary(root: Path, conf: ClusterConf | None) -> dict[str, object]:
    """What ``lab status --json`` shows of the real parts (knet's own view of every link)."""
    st = state.load(root)
    names = {n.nodeid: n.name for n in conf.nodes} if conf else {}
    return {
        "knet": {n: knet_links(st, n, names) for n in sorted(st.node_ns) if corosync.pid_of(st, n) is not None},
        "namespaces": st.namespaces(),
        "node_ns": dict(sorted(st.node_ns.items())),
        "ceph_conf": str(ceph.conf_path(root)) if st.ceph else None,
        "daemons": {k: v for k, v in sorted(st.procs.items())
                    if corosync.pid_of(st, k.split("/", 1)[1], k.split("/", 1)[0]) is not None},
        "links": dict(sorted(st.links.items())),
        "partitions": st.partitions,
    }
