"""`lab up --from STACK`: the stack's notification targets, matchers and backup jobs,
made through the lab's own API handlers as an admin would (secrets left out: a seeded
lab has no secret values, as with storage passwords)."""

from __future__ import annotations

import base64
from typing import Any

from provision.lab.registry import Ctx, call
from provision.spec.cluster import Cluster
from provision.spec.notifications import BUILTIN_MATCHERS, BUILTIN_TARGETS

_SECRETS = frozenset({"password", "token", "secrets"})


_NAMES = {"vmids": "vmid", "retention": "prune-backups", "headers": "header"}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _params(model: Any, skip: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in model.model_dump(mode="json", exclude_none=True).items():
        if key in skip or key in _SECRETS or value in ([], ""):
            continue
        if key == "retention":
            value = model.retention.pve_text()
        elif key == "headers":  # a webhook's: PVE's `name=<n>,value=<base64>` items
            value = [f"name={k},value={_b64(v)}" for k, v in sorted(value.items())]
        elif key == "body":
            value = _b64(value)
        elif key in ("vmids", "exclude"):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = int(value)
        out[_NAMES.get(key, key.replace("_", "-"))] = value
    return out


def seed_alerts(ctx: Ctx, spec: Cluster) -> None:
    if spec.notifications is not None:
        for target in spec.notifications.targets:
            params = _params(target, frozenset({"type"}))
            if target.name in BUILTIN_TARGETS:
                call(ctx, "PUT", f"/cluster/notifications/endpoints/{target.type}/{target.name}", params)
            else:
                call(ctx, "POST", f"/cluster/notifications/endpoints/{target.type}", params)
        for matcher in spec.notifications.matchers:
            params = _params(matcher, frozenset())
            if matcher.name in BUILTIN_MATCHERS:
                call(ctx, "PUT", f"/cluster/notifications/matchers/{matcher.name}", params)
            else:
                call(ctx, "POST", "/cluster/notifications/matchers", params)
    if spec.backups is not None:
        pools = {p["poolid"] for p in call(ctx, "GET", "/pools", {})}
        for job in spec.backups.jobs:
            if job.pool is not None and job.pool not in pools:
                call(ctx, "POST", "/pools", {"poolid": job.pool})  # PVE refuses a job naming a missing pool
                pools.add(job.pool)
            call(ctx, "POST", "/cluster/backup", _params(job, frozenset()))
