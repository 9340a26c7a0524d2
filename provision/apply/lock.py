"""One apply at a time per cluster.

Two people (or a person and CI) applying to one cluster at once would interleave
`pvecm`/`pveceph` calls and break the quorum-safety reasoning of the plan. The lock must
be visible to every machine that can reach the cluster, so it lives *in* the cluster:
a resource pool `pve-provision-lock`, created with `POST /pools`. PVE refuses to create
a pool that exists, which makes creation an atomic test-and-set; the pool's comment
says who holds it, since when, and for which plan. A local lock file under the state
directory (`$PROVISION_HOME/locks/`) additionally stops two applies from this machine
before any API call. `--force-unlock ID` (as in Terraform) removes a lock left behind by
a crashed run; every message that asks for it spells out the whole command.

Every pool call is retried with backoff: a lock left behind because one API call of
the release failed (a 500, a dropped connection) blocks every later apply until
someone runs `--force-unlock`, which costs far more than a few seconds of retrying.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

POOL_ID = "pve-provision-lock"
_COMMENT = re.compile(r"^pve-provision lock (?P<json>\{.*\})$", re.S)
# Pauses between attempts of one pool call (seven attempts over about 15 s).
RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
# The command that releases a lock, without its id; callers that know the stack pass
# the full command (`provision apply stacks/lab.yaml`).
DEFAULT_UNLOCK = "provision apply STACK"
T = TypeVar("T")


class LockError(RuntimeError):
    """The lock could not be taken or released."""


class LockHeldError(LockError):
    def __init__(self, info: LockInfo | None, where: str, unlock: str = DEFAULT_UNLOCK) -> None:
        self.info = info
        if info is None:
            text = f"another apply holds the {where} lock (no details recorded)"
        else:
            text = (
                f"another apply holds the {where} lock: id {info.id}, held by {info.holder} "
                f"since {info.since} for plan {info.plan_id}. If that run is gone, release it with "
                f"`{unlock} --force-unlock {info.id}`"
            )
        super().__init__(text)


class LockReleaseError(LockError):
    """The lock stayed held after every retry; the message names the recovery command."""


@dataclass(frozen=True)
class LockInfo:
    id: str
    holder: str
    since: str
    plan_id: str

    def comment(self) -> str:
        body = json.dumps(
            {"id": self.id, "holder": self.holder, "since": self.since, "plan": self.plan_id},
            sort_keys=True,
        )
        return f"pve-provision lock {body}"

    @classmethod
    def parse(cls, comment: str | None) -> LockInfo | None:
        match = _COMMENT.match((comment or "").strip())
        if not match:
            return None
        try:
            data = json.loads(match.group("json"))
        except ValueError:
            return None
        return cls(id=str(data.get("id")), holder=str(data.get("holder")), since=str(data.get("since")),
                   plan_id=str(data.get("plan")))

    @classmethod
    def new(cls, plan_id: str) -> LockInfo:
        return cls(
            id=str(uuid.uuid4()),
            holder=f"{getpass.getuser()}@{socket.gethostname()}",
            since=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            plan_id=plan_id,
        )


class PoolApi(Protocol):
    """The three pool calls the lock needs (PVE REST API)."""

    def create(self, poolid: str, comment: str) -> None:
        """POST /pools; must raise when the pool exists."""

    def comment(self, poolid: str) -> str | None:
        """The pool's comment, or None when there is no such pool."""

    def delete(self, poolid: str) -> None:
        """DELETE /pools/{poolid}."""


class ProxmoxerPools:
    """PoolApi over discovery's authenticated, TLS-pinned proxmoxer session."""

    def __init__(self, api: Any) -> None:
        self._api = api

    def create(self, poolid: str, comment: str) -> None:
        self._api.pools.post(poolid=poolid, comment=comment)

    def comment(self, poolid: str) -> str | None:
        for pool in self._api.pools.get() or []:
            if pool.get("poolid") == poolid:
                return str(pool.get("comment") or "")
        return None

    def delete(self, poolid: str) -> None:
        self._api.pools(poolid).delete()


def cluster_key(name: str) -> str:
    """The cluster's name as one safe path component: run records and the local lock
    are kept per cluster under the state directory."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "cluster"


class ApplyLock:
    """Take both locks (local file first, then the cluster pool); release both.

    `unlock` is the command a person runs to release a stale lock, without
    `--force-unlock ID` (e.g. `provision apply stacks/lab.yaml`); it appears in every
    message that asks for it. `delays` are the pauses between attempts of a pool call.
    """

    def __init__(self, pools: PoolApi, cluster: str, state_dir: Path, *, unlock: str = DEFAULT_UNLOCK,
                 delays: Sequence[float] = RETRY_DELAYS, sleep: Callable[[float], None] = time.sleep) -> None:
        self.pools = pools
        self.cluster = cluster
        self.file = state_dir / "locks" / f"{cluster_key(cluster)}.lock"
        self.unlock = unlock
        self.info: LockInfo | None = None
        self._delays = tuple(delays)
        self._sleep = sleep

    def acquire(self, plan_id: str) -> LockInfo:
        info = LockInfo.new(plan_id)
        self.file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            raise LockHeldError(self._local(), f"local ({self.file})", self.unlock) from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(info.comment() + "\n")
        try:
            self._create(info)
        except BaseException:
            self.file.unlink(missing_ok=True)
            raise
        self.info = info
        return info

    def _create(self, info: LockInfo) -> None:
        """POST the pool; after a failed POST the pool's comment tells whether the POST
        took effect anyway (ours), someone else holds it (refused), or it must be retried."""
        last: Exception | None = None
        for delay in (*self._delays, None):
            try:
                self.pools.create(POOL_ID, info.comment())
                return
            except Exception as exc:
                last = exc
            current = self._comment_retried()
            if current is not None:
                held = LockInfo.parse(current)
                if held is not None and held.id == info.id:
                    return  # the POST worked; only its answer was lost
                raise LockHeldError(held, f"cluster {self.cluster!r}", self.unlock) from None
            if delay is not None:
                self._sleep(delay)
        raise LockError(f"cannot create the lock pool {POOL_ID}: {last}") from last

    def release(self) -> None:
        """Delete our pool (only while it is still ours) and the local file. Each attempt
        reads the pool first, so a DELETE that worked but whose answer was lost is not
        mistaken for a failure. Raises LockReleaseError naming the recovery command."""
        if self.info is None:
            return
        info = self.info
        try:
            self._retried(lambda: self._delete_if_ours(info.id), "delete")
        except LockError as exc:
            raise LockReleaseError(
                f"could not release the cluster lock {info.id} on {self.cluster!r}: {exc}; release it with "
                f"`{self.unlock} --force-unlock {info.id}`") from exc
        finally:
            self._remove_local_if(info.id)
            self.info = None

    def _delete_if_ours(self, lock_id: str) -> None:
        current = LockInfo.parse(self.pools.comment(POOL_ID))
        if current is not None and current.id == lock_id:
            self.pools.delete(POOL_ID)

    def _retried(self, call: Callable[[], T], what: str) -> T:
        last: Exception | None = None
        for delay in (*self._delays, None):
            try:
                return call()
            except Exception as exc:
                last = exc
            if delay is not None:
                self._sleep(delay)
        raise LockError(f"cannot {what} the lock pool {POOL_ID} (tried {len(self._delays) + 1} times): {last}") \
            from last

    def _comment_retried(self) -> str | None:
        return self._retried(lambda: self.pools.comment(POOL_ID), "read")

    def force_unlock(self, lock_id: str) -> LockInfo | None:
        """Remove a lock by its id; refuse when the id does not match the one held."""
        comment = self._comment_retried()
        local = self._local()
        if comment is None and local is None:
            raise LockError(f"no lock is held on cluster {self.cluster!r}")
        current = LockInfo.parse(comment) if comment is not None else None
        if comment is None and local is not None and local.id != lock_id:
            raise LockError(f"lock id {lock_id} does not match the local lock ({local.id}); nothing released")
        if comment is not None:
            if current is None or current.id != lock_id:
                held = current.id if current else "unknown"
                raise LockError(f"lock id {lock_id} does not match the held lock ({held}); nothing released")
            self._retried(lambda: self._delete_if_ours(lock_id), "delete")
        self._remove_local_if(lock_id)
        return current or local

    def _local(self) -> LockInfo | None:
        try:
            return LockInfo.parse(self.file.read_text(encoding="utf-8"))
        except OSError:
            return None

    def _remove_local_if(self, lock_id: str) -> None:
        local = self._local()
        if local is None or local.id == lock_id:
            self.file.unlink(missing_ok=True)

