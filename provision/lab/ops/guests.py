"""Guests: list, status, start/stop. pve-provision never creates guests; they come with the lab.

Start/stop of an HA-managed guest goes through the HA stack as in PVE (``qm start`` on an HA
resource only sets the requested state; the CRM does the rest).
"""

from __future__ import annotations

from typing import Any

from provision.lab.files import HA_RESOURCES, parse_sections, write_sections
from provision.lab.ops.common import require_node, require_quorum, task
from provision.lab.registry import ApiError, Ctx, p_req, route


def _list(ctx: Ctx, node: str, gtype: str) -> list[dict[str, Any]]:
    require_node(ctx, node)
    out = []
    for g in ctx.store.query("SELECT * FROM guests WHERE node = ? AND type = ? ORDER BY vmid", (node, gtype)):
        running = g["status"] == "running"
        out.append({"vmid": g["vmid"], "name": g["name"], "status": g["status"],
                    "maxmem": g["memory_mb"] * 1024 * 1024, "mem": g["memory_mb"] * 1024 * 1024 // 2 if running else 0,
                    "cpus": g["cores"], "cpu": 0.01 if running else 0, "maxdisk": 32 * 1024**3, "disk": 0,
                    "uptime": 60 if running else 0, "netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0,
                    **({"type": "lxc"} if gtype == "lxc" else {})})
    return out


@route("GET", "/nodes/{node}/qemu")
def qemu_list(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    return _list(ctx, params["node"], "qemu")


@route("GET", "/nodes/{node}/lxc")
def lxc_list(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    return _list(ctx, params["node"], "lxc")


def _guest(ctx: Ctx, node: str, vmid: str, gtype: str) -> Any:
    require_node(ctx, node)
    row = ctx.store.one("SELECT * FROM guests WHERE vmid = ? AND type = ?", (int(vmid), gtype))
    if row is None or row["node"] != node:
        what = "VM" if gtype == "qemu" else "CT"
        raise ApiError(500, f"Configuration file 'nodes/{node}/{'qemu-server' if gtype == 'qemu' else 'lxc'}/"
                       f"{vmid}.conf' does not exist" if row is None else f"{what} {vmid} is on node '{row['node']}'")
    return row


def _ha(ctx: Ctx, gtype: str, vmid: str) -> dict[str, Any]:
    from provision.lab.ops.ha import crm_state

    # HA::Config::get_service_status: managed unless ignored; state = the CRM's service state
    sid = f"{'vm' if gtype == 'qemu' else 'ct'}:{vmid}"
    for s in parse_sections(ctx.store.get_file(HA_RESOURCES), "resources"):
        if s.id == sid and s.props.get("state") != "ignored":
            d: dict[str, Any] = {"managed": 1}
            state = crm_state(ctx, sid)
            if state is not None:
                d["state"] = state
            return d
    return {"managed": 0}


def _current(ctx: Ctx, params: dict[str, Any], gtype: str) -> dict[str, Any]:
    g = _guest(ctx, params["node"], p_req(params, "vmid"), gtype)
    d: dict[str, Any] = {"vmid": g["vmid"], "name": g["name"], "status": g["status"], "cpus": g["cores"],
                         "maxmem": g["memory_mb"] * 1024 * 1024, "ha": _ha(ctx, gtype, str(g["vmid"]))}
    if gtype == "qemu":
        d["qmpstatus"] = g["status"]
    else:
        d["type"] = "lxc"
    return d


@route("GET", "/nodes/{node}/qemu/{vmid}/status/current")
def qemu_current(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _current(ctx, params, "qemu")


@route("GET", "/nodes/{node}/lxc/{vmid}/status/current")
def lxc_current(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return _current(ctx, params, "lxc")


def set_power(ctx: Ctx, node: str, vmid: str, gtype: str, action: str) -> str:
    """Start or stop a guest; for HA resources request the state from the CRM instead."""
    with ctx.store.tx():
        require_quorum(ctx)
        g = _guest(ctx, node, vmid, gtype)
        kind = "vm" if gtype == "qemu" else "ct"
        sections = parse_sections(ctx.store.get_file(HA_RESOURCES), "resources")
        managed = next((s for s in sections if s.id == f"{kind}:{vmid}"), None)
        prefix = "qm" if gtype == "qemu" else "vz"
        if managed is not None and managed.props.get("state") != "ignored":
            managed.props["state"] = "started" if action == "start" else "stopped"
            ctx.store.put_file(HA_RESOURCES, write_sections(sections, "resources"))
            return task(ctx, node, f"ha{action}", str(vmid), f"Requesting HA {action} for {kind.upper()} {vmid}\n")
        if action == "start" and g["status"] == "running":
            raise ApiError(500, f"{'VM' if gtype == 'qemu' else 'CT'} {vmid} already running")
        ctx.store.exec("UPDATE guests SET status = ? WHERE vmid = ?",
                       ("running" if action == "start" else "stopped", int(vmid)))
        return task(ctx, node, f"{prefix}{action}", str(vmid))


@route("POST", "/nodes/{node}/qemu/{vmid}/status/start")
def qemu_start(ctx: Ctx, params: dict[str, Any]) -> str:
    return set_power(ctx, params["node"], p_req(params, "vmid"), "qemu", "start")


@route("POST", "/nodes/{node}/qemu/{vmid}/status/stop")
def qemu_stop(ctx: Ctx, params: dict[str, Any]) -> str:
    return set_power(ctx, params["node"], p_req(params, "vmid"), "qemu", "stop")


@route("POST", "/nodes/{node}/lxc/{vmid}/status/start")
def lxc_start(ctx: Ctx, params: dict[str, Any]) -> str:
    return set_power(ctx, params["node"], p_req(params, "vmid"), "lxc", "start")


@route("POST", "/nodes/{node}/lxc/{vmid}/status/stop")
def lxc_stop(ctx: Ctx, params: dict[str, Any]) -> str:
    return set_power(ctx, params["node"], p_req(params, "vmid"), "lxc", "stop")
