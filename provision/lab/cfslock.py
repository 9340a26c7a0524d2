"""pmxcfs's cluster-wide locks, as PVE's Perl side takes them (``PVE::Cluster::cfs_lock_*``).

PVE serialises edits of shared configuration across nodes with a lock directory in
pmxcfs, ``/etc/pve/priv/lock/<id>`` (``domain-ha`` for everything under ``/etc/pve/ha``):
whoever creates it holds the lock. A caller that finds it taken says ``trying to acquire
cfs lock '<id>' ...`` on stderr and tries again a second later, and after its 10th attempt
(~9 s) gives up with ``cfs-lock '<id>' error: got lock request timeout``, which the HA API
prefixes with its own message ("create resource failed: ...") and the CLI turns into exit
255. pmxcfs lets a waiter take over a lock its holder kept for more than 120 s (a crashed
holder). pve-cluster 9.1.0 polls every 0.1 s instead; the lab's PVE 9 is pve-cluster 9.0.7
(``hardware.PVE_CLUSTER_RELEASES``), which waits like PVE 8. Sources in docs/lab-contract.md
("Cluster-wide locks").

The lab's store already serialises its writers (SQLite ``BEGIN IMMEDIATE``), but with
a 30 s wait and another error; concurrent ``ha-manager add``s on several nodes must meet
the lock, the wait and the error a real cluster gives them. The lock directories live
under the lab directory (``cfs-locks/``), shared by the API server and every node CLI
process; take a lock before the store transaction, never inside one.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_DIR = "cfs-locks"
ACQUIRE_TIMEOUT = 10
"""Attempts (a second apart) to take the lock (``$cfs_lock``: ``$timeout = 10 if !$timeout``)."""
EXPIRED_AFTER = 120
"""pmxcfs ``CFS_LOCK_TIMEOUT``: a lock held longer may be taken over by a waiter."""


class LockTimeout(Exception):
    """The lock stayed taken for the whole wait (``got lock request timeout``)."""

    def __init__(self, lockid: str) -> None:
        super().__init__(f"cfs-lock '{lockid}' error: got lock request timeout")


@contextmanager
def cfs_lock(lab_root: Path, lockid: str, timeout: int = ACQUIRE_TIMEOUT) -> Iterator[None]:
    """Hold ``lockid`` (e.g. ``domain-ha``) for the block; raise ``LockTimeout`` when it
    stays taken, waiting as pve-cluster 8.x and 9.0 do: an attempt a second, a line on
    stderr after each failed one, the last of ``timeout`` attempts fails."""
    base = lab_root / LOCK_DIR
    base.mkdir(exist_ok=True)
    path = base / lockid
    while True:
        try:
            path.mkdir()
            break
        except FileExistsError:
            pass
        timeout -= 1
        if timeout <= 0:
            raise LockTimeout(lockid)
        print(f"trying to acquire cfs lock '{lockid}' ...", file=sys.stderr, flush=True)
        _expire(path)
        time.sleep(1)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):  # a waiter may have taken an expired lock over
            os.rmdir(path)


def _expire(path: Path) -> None:
    """The unlock request a waiter makes: pmxcfs drops a lock older than 120 s."""
    with contextlib.suppress(FileNotFoundError):
        if time.time() - path.stat().st_mtime > EXPIRED_AFTER:
            os.rmdir(path)


__all__ = ["ACQUIRE_TIMEOUT", "LockTimeout", "cfs_lock"]
