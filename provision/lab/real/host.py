"""Running host tools for the real lab: argv lists only, never a shell over lab data.

Every value that comes from a stack or corosync.conf (addresses, node names) reaches a
tool as one argv element, so it is data to that tool and never shell text.

Host tools run with the host's own ``PATH`` (``HOST_PATH``), never the caller's: the
lab's node CLIs run with the lab's ``bin/`` first on ``PATH`` (that is how Ansible finds
``pvecm``), and ``bin/`` holds lab versions of node tools that share a name with real
ones (``corosync-cfgtool``, ``ceph``). Inherited, that ``PATH`` made pmxcfs's
``corosync-cfgtool -R`` reach the lab's version, which refused, so the existing member
never reloaded at a join.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from provision.lab.procs import alive

__all__ = ["HOST_PATH", "RealLabError", "alive", "comm", "host_env", "netns_inode", "preflight",
           "process_netns_inode", "run"]

HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

TOOLS = ("ip", "unshare", "nsenter", "corosync", "corosync-quorumtool", "corosync-cfgtool", "corosync-cmapctl")


class RealLabError(Exception):
    """A user-facing error of the real lab: one line, exit code 1."""


CEPH_TOOLS = ("ceph", "ceph-mon", "ceph-mgr", "ceph-osd", "ceph-authtool", "monmaptool")


def preflight(*, with_ceph: bool = False) -> None:
    """Refuse early, with the one reason, when this machine cannot run the real lab."""
    if not sys.platform.startswith("linux"):
        raise RealLabError("--real needs Linux (network namespaces)")
    if os.geteuid() != 0:
        raise RealLabError("--real needs root (network namespaces, bridges and mounts)")
    missing = [t for t in TOOLS if shutil.which(t, path=HOST_PATH) is None]
    if missing:
        raise RealLabError(f"--real needs {', '.join(missing)} (Debian: apt-get install corosync iproute2 "
                           "util-linux)")
    missing = [t for t in CEPH_TOOLS if with_ceph and shutil.which(t, path=HOST_PATH) is None]
    if missing:
        raise RealLabError(f"--real-ceph needs {', '.join(missing)} (Debian: apt-get install ceph-mon ceph-mgr "
                           "ceph-osd ceph-common)")


def host_env() -> dict[str, str]:
    """The environment for a host tool or daemon: the caller's, with the host's ``PATH``
    (which also reaches what the tool execs: ``ip netns exec``, ``nsenter``, ``sh``)."""
    return {**os.environ, "PATH": HOST_PATH}


def run(argv: list[str], *, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run a tool; with ``check`` a failure becomes one RealLabError line (the tool's stderr)."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env=host_env())
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise RealLabError(f"{' '.join(argv[:4])}: {detail[-1] if detail else f'exit {proc.returncode}'}")
    return proc


def netns_inode(name: str) -> int | None:
    """Inode of a named network namespace (``/run/netns/NAME``), or None if it is gone."""
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except FileNotFoundError:
        return None


def process_netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""
