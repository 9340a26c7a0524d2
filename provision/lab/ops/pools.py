"""Resource pools (``/pools``, pve-access-control ``API2/Pool.pm``).

PVE keeps pools in ``/etc/pve/user.cfg`` as ``pool:<id>:<comment>:<vms>:<storages>:``
lines next to users, groups and ACLs. Creating one is atomic and, like every pmxcfs
write, needs quorum, which is why pve-provision uses a pool as its cluster-visible
apply lock. Only the pool lines are modelled; other user.cfg lines are kept as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, unquote

from provision.lab.ops.common import require_quorum
from provision.lab.registry import ApiError, Ctx, p_req, p_str, param_error, route

USER_CFG = "user.cfg"
POOLID = re.compile(r"[A-Za-z0-9\-_]+")


def _read(ctx: Ctx) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Other lines of user.cfg (kept verbatim) and the pools by id, in file order."""
    other: list[str] = []
    pools: dict[str, dict[str, Any]] = {}
    for line in (ctx.store.get_file(USER_CFG) or "").splitlines():
        if line.startswith("pool:"):
            fields = (line.split(":") + [""] * 5)[1:5]
            poolid, comment, vms, storages = fields
            pools[poolid] = {
                "comment": unquote(comment),
                "vms": [v for v in vms.split(",") if v],
                "storage": [s for s in storages.split(",") if s],
            }
        elif line.strip():
            other.append(line)
    return other, pools


def _write(ctx: Ctx, other: list[str], pools: dict[str, dict[str, Any]]) -> None:
    lines = list(other)
    for poolid, p in pools.items():
        comment = quote(p["comment"], safe=" -._~/@,=+")
        lines.append(f"pool:{poolid}:{comment}:{','.join(p['vms'])}:{','.join(p['storage'])}:")
    ctx.store.put_file(USER_CFG, "\n".join(lines) + "\n" if lines else "")


def _members(p: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": f"qemu/{v}", "vmid": int(v), "type": "qemu"} for v in p["vms"]] + [
        {"id": f"storage/{s}", "storage": s, "type": "storage"} for s in p["storage"]
    ]


@route("GET", "/pools")
def index(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    _, pools = _read(ctx)
    out = []
    for poolid, p in pools.items():
        item: dict[str, Any] = {"poolid": poolid}
        if p["comment"]:
            item["comment"] = p["comment"]
        out.append(item)
    return out


@route("GET", "/pools/{poolid}")
def get(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    poolid = p_req(params, "poolid")
    _, pools = _read(ctx)
    if poolid not in pools:
        raise ApiError(500, f"pool '{poolid}' does not exist")
    p = pools[poolid]
    out: dict[str, Any] = {"members": _members(p)}
    if p["comment"]:
        out["comment"] = p["comment"]
    return out


@route("POST", "/pools")
def create(ctx: Ctx, params: dict[str, Any]) -> None:
    poolid = p_req(params, "poolid")
    if not POOLID.fullmatch(poolid):
        raise param_error("poolid", f"invalid format - invalid pool ID '{poolid}'")
    with ctx.store.tx():
        require_quorum(ctx)
        other, pools = _read(ctx)
        if poolid in pools:
            raise ApiError(500, f"pool '{poolid}' already exists")
        pools[poolid] = {"comment": p_str(params, "comment") or "", "vms": [], "storage": []}
        _write(ctx, other, pools)


@contextmanager
def _editing(ctx: Ctx, poolid: str) -> Iterator[tuple[list[str], dict[str, dict[str, Any]]]]:
    """One write transaction on an existing pool: quorum first, as pmxcfs demands;
    the caller changes `pools` and it is written back."""
    with ctx.store.tx():
        require_quorum(ctx)
        other, pools = _read(ctx)
        if poolid not in pools:
            raise ApiError(500, f"pool '{poolid}' does not exist")
        yield other, pools
        _write(ctx, other, pools)


@route("PUT", "/pools/{poolid}")
def update(ctx: Ctx, params: dict[str, Any]) -> None:
    poolid = p_req(params, "poolid")
    with _editing(ctx, poolid) as (_other, pools):
        comment = p_str(params, "comment")
        if comment is not None:
            pools[poolid]["comment"] = comment


@route("DELETE", "/pools/{poolid}")
def delete(ctx: Ctx, params: dict[str, Any]) -> None:
    poolid = p_req(params, "poolid")
    with _editing(ctx, poolid) as (_other, pools):
        if pools[poolid]["vms"] or pools[poolid]["storage"]:
            raise ApiError(500, f"pool '{poolid}' is not empty")
        del pools[poolid]
