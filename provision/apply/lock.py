"""One apply at a time per cluster.

Two people (or a person and CI) applying to one cluster at once would interleave
`pvecm`/`pveceph` calls and break the quorum-safety reasoning of the plan. The lock must
be visible to every machine that can reach the cluster, so it lives *in* the cluster:
a resource pool `pve-provision-lock`, created with `POST /pools`. PVE refuses to create
a pool that exists, which makes creation an atomic test-and-set; the pool's comment
says who holds it, since when, and for which plan. A local lock file under
`.provision/` additionally stops two applies from one checkout before any API call.
`--force-unlock ID` (as in Terraform) removes a lock left behind by a crashed run.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

POOL_ID = "pve-provision-lock"
_COMMENT = re.compile(r"^pve-provision lock (?P<json>\{.*\})$", re.S)


class LockError(RuntimeError):
    """The lock could not be taken or released."""


class LockHeldError(LockError):
    def __init__(self, info: LockInfo | None, where: str) -> None:
        self.info = info
        if info is None:
            text = f"another apply holds the {where} lock (no details recorded)"
        else:
            text = (
                f"another apply holds the {where} lock: id {info.id}, held by {info.holder} "
                f"since {info.since} for plan {info.plan_id}. If that run is gone, release it with "
                f"`provision apply ... --force-unlock {info.id}`"
            )
        super().__init__(text)


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


def _cluster_key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "cluster"


class ApplyLock:
    """Take both locks (local file first, then the cluster pool); release both."""

    def __init__(self, pools: PoolApi, cluster: str, state_dir: Path) -> None:
        self.pools = pools
        self.cluster = cluster
        self.file = state_dir / "locks" / f"{_cluster_key(cluster)}.lock"
        self.info: LockInfo | None = None

    def acquire(self, plan_id: str) -> LockInfo:
        info = LockInfo.new(plan_id)
        self.file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            raise LockHeldError(self._local(), f"local ({self.file})") from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(info.comment() + "\n")
        try:
            self.pools.create(POOL_ID, info.comment())
        except Exception as exc:
            self.file.unlink(missing_ok=True)
            try:
                current = self._safe_comment()
            except LockError:
                raise LockError(f"cannot create the lock pool {POOL_ID}: {exc}") from exc
            if current is not None:
                raise LockHeldError(LockInfo.parse(current), f"cluster {self.cluster!r}") from None
            raise LockError(f"cannot create the lock pool {POOL_ID}: {exc}") from exc
        self.info = info
        return info

    def release(self) -> None:
        if self.info is None:
            return
        try:
            current = LockInfo.parse(self._safe_comment())
            if current is not None and current.id == self.info.id:
                self.pools.delete(POOL_ID)
        finally:
            self._remove_local_if(self.info.id)
            self.info = None

    def force_unlock(self, lock_id: str) -> LockInfo | None:
        """Remove a lock by its id; refuse when the id does not match the one held."""
        comment = self._safe_comment()
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
            self.pools.delete(POOL_ID)
        self._remove_local_if(lock_id)
        return current or local

    def _safe_comment(self) -> str | None:
        try:
            return self.pools.comment(POOL_ID)
        except Exception as exc:
            raise LockError(f"cannot read the lock pool {POOL_ID}: {exc}") from exc

    def _local(self) -> LockInfo | None:
        try:
            return LockInfo.parse(self.file.read_text(encoding="utf-8"))
        except OSError:
            return None

    def _remove_local_if(self, lock_id: str) -> None:
        local = self._local()
        if local is None or local.id == lock_id:
            self.file.unlink(missing_ok=True)

