"""The lab's membership and quorum, read from the real votequorum of every node.

Each running corosync is asked ``corosync-quorumtool -s -p`` in its own namespaces; its
answer is that node's view: who is in its membership, total and expected votes, the
quorum threshold, whether it is quorate, and what the QDevice contributes. Views can
disagree for a moment while corosync re-forms a ring, which is real too, so the lab keeps
one view per node instead of forcing a single partition list.

Asking costs one short process per node; answers are cached for ``TTL`` seconds per
process because the API server and the HA loop ask many times a second.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from provision.lab.formats.corosync import ClusterConf
from provision.lab.real import corosync, state
from provision.lab.real.host import host_env

TTL = 0.5


@dataclass(frozen=True)
class View:
    """One node's ``corosync-quorumtool -s -p``."""

    nodes: tuple[str, ...]
    votes: int
    expected: int
    quorum: int
    quorate: bool
    qdevice_votes: int


def parse_status(text: str, names: dict[int, str]) -> View | None:
    """Parse ``corosync-quorumtool -s -p``; node ids map to names through corosync.conf."""
    fields: dict[str, str] = {}
    members: list[str] = []
    qdev = 0
    in_members = False
    for line in text.splitlines():
        if line.startswith("Membership information"):
            in_members = True
            continue
        if in_members:
            parts = line.split()
            if not parts or not parts[0].isdigit():
                continue
            nodeid, votes = int(parts[0]), int(parts[1]) if parts[1].isdigit() else 0
            if nodeid == 0:
                qdev = votes
            elif nodeid in names:
                members.append(names[nodeid])
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    try:
        return View(tuple(sorted(members)), int(fields["Total votes"]), int(fields["Expected votes"]),
                    int(fields["Quorum"].split()[0]), fields.get("Quorate") == "Yes", qdev)
    except (KeyError, ValueError, IndexError):
        return None


_cache: dict[Path, tuple[float, tuple[object, ...], dict[str, View]]] = {}


def views(root: Path, conf: ClusterConf, power: dict[str, bool]) -> dict[str, View]:
    """Each powered member's view, asked of all nodes at once."""
    key = (state.conf_digest(conf.to_text()), tuple(sorted(power.items())))
    hit = _cache.get(root)
    now = time.monotonic()
    if hit is not None and hit[1] == key and now - hit[0] < TTL:
        return hit[2]
    st = state.load(root)
    names = {n.nodeid: n.name for n in conf.nodes}
    procs: dict[str, subprocess.Popen[str]] = {}
    for n in conf.nodes:
        pid = corosync.pid_of(st, n.name) if power.get(n.name) else None
        if pid is not None:
            procs[n.name] = subprocess.Popen(
                ["nsenter", "-t", str(pid), "-m", "-n", "corosync-quorumtool", "-s", "-p"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True,
                env=host_env())
    out: dict[str, View] = {}
    for node, proc in procs.items():
        try:
            text, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            continue
        view = parse_status(text, names)
        if view is not None and node in view.nodes:
            out[node] = view
    _cache[root] = (time.monotonic(), key, out)
    return out


def forget(root: Path) -> None:
    """Drop the cached views after this process changed something (a fault, a new conf)."""
    _cache.pop(root, None)
