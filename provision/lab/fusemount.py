"""Start and stop a lab's pmxcfs FUSE daemon, and never leave a mount behind.

A FUSE mount outlives a daemon killed with SIGKILL ("Transport endpoint is not
connected"), and a directory tree holding such a mount cannot be removed. So ``stop``
asks the daemon to unmount (SIGTERM), then detaches whatever is still mounted
(``fusermount3 -u -z``, or ``umount -l`` as root), and ``start`` first clears a stale
mount left by a crash. Mount state is read from /proc/self/mountinfo, because ``stat``
on a dead FUSE mount fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from provision.lab.paths import LabPaths

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class MountError(Exception):
    """The mount could not be made or removed: one line for the user."""


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040 ...)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and len(field[i + 1:i + 4]) == 3:
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounted(path: Path) -> bool:
    """Whether something is mounted at ``path`` (works for dead FUSE mounts too)."""
    target = os.path.abspath(path)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return os.path.ismount(target)
    return any(len(f := line.split()) > 4 and _unescape(f[4]) == target for line in lines)


def _detach(path: Path) -> None:
    """Lazily unmount ``path``; quiet when it is not mounted."""
    for argv in (["fusermount3", "-u", "-z", str(path)], ["umount", "-l", str(path)]):
        if not mounted(path):
            return
        if shutil.which(argv[0]) is None:
            continue
        subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False, timeout=30)
    if mounted(path):
        raise MountError(f"could not unmount {path}; run: umount -l {path}")


def _pid(paths: LabPaths) -> int | None:
    try:
        return int(paths.pmxcfs_pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def start(paths: LabPaths, nodes: list[str]) -> None:
    """Mount the lab's pmxcfs and point every node's /etc/pve at its view."""
    if not Path("/dev/fuse").exists():
        raise MountError("the lab's /etc/pve needs FUSE: /dev/fuse is missing (install fuse3; in a container, "
                         "pass --device /dev/fuse)")
    _detach(paths.pmxcfs)
    paths.pmxcfs.mkdir(parents=True, exist_ok=True)
    with paths.pmxcfs_log.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "provision.lab.pmxcfs", "--lab-dir", str(paths.root)],
            start_new_session=True, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=str(paths.root),
        )
    paths.pmxcfs_pid.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while not mounted(paths.pmxcfs):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = paths.pmxcfs_log.read_text(errors="replace").strip().splitlines()[-1:]
            raise MountError(f"pmxcfs mount failed: {tail[0] if tail else 'no output'}")
        time.sleep(0.01)
    for node in nodes:
        link = paths.etc_pve(node)
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            continue
        link.symlink_to(paths.pmxcfs / node, target_is_directory=True)


def stop(paths: LabPaths) -> None:
    """SIGTERM the daemon (it unmounts), then detach any mount that is left."""
    pid = _pid(paths)
    if pid is not None and _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    _detach(paths.pmxcfs)
    paths.pmxcfs_pid.unlink(missing_ok=True)
