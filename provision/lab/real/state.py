"""What one real lab created on the host, so ``lab down`` removes exactly that.

``<lab>/real/state.json`` lists the lab's namespaces, which lab node lives in which, the
daemons it started (by PID) and the corosync.conf the daemons were last given. Every
change happens under an exclusive ``flock`` on ``<lab>/real/lock``: node CLIs run by
Ansible in parallel, the API server and ``provision lab`` commands all touch it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RealState:
    prefix: str  # unique per lab directory; every namespace name starts with it
    switch_ns: str  # holds the bridges (one per corosync link, plus the management one)
    node_ns: dict[str, str] = field(default_factory=dict)  # lab node -> namespace
    node_index: dict[str, int] = field(default_factory=dict)  # lab node -> 1.. (interface names)
    extra_ns: list[str] = field(default_factory=list)  # e.g. the QNetd host
    procs: dict[str, int] = field(default_factory=dict)  # "corosync/pve01" -> PID
    links: dict[str, str] = field(default_factory=dict)  # "pve01/0" -> "10.10.10.11/24" (configured veths)
    applied_conf: str = ""  # sha256 of the corosync.conf the daemons run with
    partitions: list[list[str]] = field(default_factory=list)
    ceph: bool = False  # real Ceph daemons follow the lab's pveceph records (``lab up --real-ceph``)
    applied_ceph: str = ""  # digest of the Ceph records the daemons were last brought in line with
    ceph_mons: dict[str, str] = field(default_factory=dict)  # made (mkfs'd) MON id -> node
    ceph_mgrs: dict[str, str] = field(default_factory=dict)  # MGR id with a key -> node
    ceph_osds: dict[str, str] = field(default_factory=dict)  # OSD id in the osdmap -> node
    ceph_osd_in: dict[str, bool] = field(default_factory=dict)  # last in/out the lab set
    ceph_pools: list[str] = field(default_factory=list)  # pools the lab created

    def namespaces(self) -> list[str]:
        return [self.switch_ns, *self.node_ns.values(), *self.extra_ns]


def real_dir(root: Path) -> Path:
    return root / "real"


def prefix_for(root: Path) -> str:
    """A short name unique to this lab directory (several real labs may run at once)."""
    return "pvl" + hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:7]


def conf_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _state_file(root: Path) -> Path:
    return real_dir(root) / "state.json"


def load(root: Path) -> RealState:
    data: dict[str, Any] = json.loads(_state_file(root).read_text())
    return RealState(**data)


def save(root: Path, st: RealState) -> None:
    path = _state_file(root)
    tmp = path.with_name(".state.json.tmp")
    tmp.write_text(json.dumps(asdict(st), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


@contextmanager
def locked(root: Path) -> Iterator[RealState]:
    """Hold the lab's real-parts lock; the state yielded is saved on every exit.

    Saved even after an error, because the state then records what was really created
    before the failure, which is what ``lab down`` has to remove."""
    lock = real_dir(root) / "lock"
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            st = load(root)
            try:
                yield st
            finally:
                save(root, st)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
