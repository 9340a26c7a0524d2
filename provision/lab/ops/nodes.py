"""Node-level reads: /version, /nodes, node status, /cluster/status, /cluster/resources, tasks, disks."""

from __future__ import annotations

import time
from typing import Any

from provision.lab import powerdown
from provision.lab.formats.sectionconfig import SHARED_STORAGE_TYPES
from provision.lab.hardware import PVE_RELEASES, PVE_REPOIDS
from provision.lab.ops.cluster import read_conf
from provision.lab.ops.common import require_node, topo
from provision.lab.registry import ApiError, Ctx, p_bool, p_enum, p_req, param_error, route

SHARED_TYPES = SHARED_STORAGE_TYPES  # pve-storage @SHARED_STORAGE


@route("GET", "/version")
def version(ctx: Ctx, params: dict[str, Any]) -> dict[str, str]:
    return _version(ctx)


def _version(ctx: Ctx) -> dict[str, str]:
    v = ctx.pve_version
    full = PVE_RELEASES[v]
    return {"version": full, "release": full.rsplit(".", 1)[0], "repoid": PVE_REPOIDS[v][:8]}


@route("GET", "/cluster/status")
def cluster_status(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    t = topo(ctx)
    conf = read_conf(ctx)
    ips = {r["name"]: r["ip"] for r in ctx.store.query("SELECT name, ip FROM nodes")}
    if ctx.node in t.evicted:  # removed by delnode, still on its old config: alone, no quorum
        return [
            {"type": "cluster", "id": "cluster", "name": t.evicted[ctx.node]["name"], "nodes": 1,
             "version": t.evicted[ctx.node]["version"], "quorate": 0},
            {"type": "node", "id": f"node/{ctx.node}", "name": ctx.node, "nodeid": 0, "ip": ips.get(ctx.node, ""),
             "local": 1, "online": 1, "level": ""},
        ]
    if conf is None or conf.node(ctx.node) is None:
        return [
            {"type": "node", "id": f"node/{ctx.node}", "name": ctx.node, "nodeid": 0, "ip": ips.get(ctx.node, ""),
             "local": 1, "online": 1, "level": ""}
        ]
    out: list[dict[str, Any]] = [
        {"type": "cluster", "id": "cluster", "name": conf.cluster_name, "nodes": len(conf.nodes),
         "version": conf.config_version, "quorate": int(t.quorate(ctx.node))}
    ]
    for n in sorted(conf.nodes, key=lambda n: n.name):
        entry: dict[str, Any] = {"type": "node", "id": f"node/{n.name}", "name": n.name, "nodeid": n.nodeid,
                                 "local": int(n.name == ctx.node), "online": int(t.sees(ctx.node, n.name)),
                                 "level": ""}
        if n.name in ips:
            entry["ip"] = ips[n.name]
        out.append(entry)
    return out


def _node_rows(ctx: Ctx) -> list[Any]:
    return ctx.store.query("SELECT * FROM nodes ORDER BY name")


def _visible_nodes(ctx: Ctx) -> list[str]:
    """Nodes the answering node knows: corosync members when clustered, else itself."""
    conf = read_conf(ctx)
    if conf is None or conf.node(ctx.node) is None:
        return [ctx.node]
    return sorted(n.name for n in conf.nodes)


def _mem_used(ctx: Ctx, node: str) -> int:
    row = ctx.store.one(
        "SELECT COALESCE(SUM(memory_mb), 0) AS m FROM guests WHERE node = ? AND status = 'running'", (node,)
    )
    return (4096 + int(row["m"] if row else 0)) * 1024 * 1024


@route("GET", "/nodes")
def nodes(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    t = topo(ctx)
    rows = {r["name"]: r for r in _node_rows(ctx)}
    fp = str(ctx.store.get_meta("fingerprint", ""))
    out = []
    for name in _visible_nodes(ctx):
        r = rows[name]
        online = t.sees(ctx.node, name)
        entry: dict[str, Any] = {"node": name, "id": f"node/{name}", "type": "node",
                                 "status": "online" if online else "offline", "ssl_fingerprint": fp, "level": ""}
        if online:
            entry.update({"cpu": 0.02, "maxcpu": r["cores"], "mem": _mem_used(ctx, name),
                          "maxmem": r["memory_mb"] * 1024 * 1024, "disk": 3 * 1024**3, "maxdisk": 94 * 1024**3,
                          "uptime": int(time.time() - r["boot_time"])})
        out.append(entry)
    return out


@route("GET", "/nodes/{node}")
def node_index(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, str]]:
    require_node(ctx, params["node"])
    names = ("ceph", "disks", "lxc", "network", "qemu", "status", "storage", "tasks", "version")
    return [{"name": n} for n in names]


@route("POST", "/nodes/{node}/status")
def node_cmd(ctx: Ctx, params: dict[str, Any]) -> None:
    """pve-manager ``PVE/API2/Nodes.pm`` node_cmd (Sys.PowerMgmt): ``shutdown`` powers the
    node off, ``reboot`` restarts it; PVE answers first and acts in the background, and the
    node's HA agent holds the shutdown as its ``shutdown_policy`` says
    (``provision.lab.powerdown``). Its guests stop on the way down (``pve-guests``)."""
    node = params["node"]
    require_node(ctx, node)
    command = p_enum(params, "command", ("reboot", "shutdown"))
    if command is None:
        raise param_error("command", "property is missing and it is not optional")
    powerdown.request(ctx.store, node, reboot=command == "reboot")
    return None


@route("GET", "/nodes/{node}/status")
def node_status(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    node = params["node"]
    require_node(ctx, node)
    r = ctx.store.one("SELECT * FROM nodes WHERE name = ?", (node,))
    assert r is not None
    v = ctx.pve_version
    total = r["memory_mb"] * 1024 * 1024
    used = _mem_used(ctx, node)
    kernel = "6.8.12-9-pve" if v == 8 else "6.14.11-4-pve"
    return {
        "cpu": 0.02,
        "wait": 0,
        "idle": 0,
        "loadavg": ["0.10", "0.08", "0.05"],
        "uptime": int(time.time() - r["boot_time"]),
        "kversion": f"Linux {kernel} #1 SMP PREEMPT_DYNAMIC PMX",
        "pveversion": f"pve-manager/{PVE_RELEASES[v]}/{PVE_REPOIDS[v]}",
        "cpuinfo": {"cpus": r["cores"], "cores": r["cores"] // 2, "sockets": 2, "model": "Lab CPU @ 2.40GHz",
                    "mhz": "2400.000", "hvm": "1", "user_hz": 100, "flags": "fpu vme de pse"},
        "memory": {"total": total, "used": used, "free": total - used},
        "swap": {"total": 8 * 1024**3, "used": 0, "free": 8 * 1024**3},
        "rootfs": {"total": 94 * 1024**3, "used": 3 * 1024**3, "avail": 91 * 1024**3, "free": 91 * 1024**3},
        "ksm": {"shared": 0},
        "boot-info": {"mode": "efi", "secureboot": 0},
        "current-kernel": {"sysname": "Linux", "release": kernel, "machine": "x86_64",
                           "version": "#1 SMP PREEMPT_DYNAMIC PMX"},
    }


def storage_sections(ctx: Ctx) -> list[Any]:
    from provision.lab.ops.storage import read

    return read(ctx)


@route("GET", "/cluster/resources")
def resources(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    kind = p_enum(params, "type", ("vm", "storage", "node", "sdn", "pool"))
    t = topo(ctx)
    out: list[dict[str, Any]] = []
    visible = _visible_nodes(ctx)
    rows = {r["name"]: r for r in _node_rows(ctx)}
    if kind in (None, "node"):
        for e in nodes(ctx, {}):
            name = e["node"]
            out.append({"id": f"node/{name}", "type": "node", "node": name, "status": e["status"],
                        "maxcpu": rows[name]["cores"], "maxmem": rows[name]["memory_mb"] * 1024 * 1024,
                        "mem": e.get("mem", 0), "cpu": e.get("cpu", 0), "uptime": e.get("uptime", 0),
                        "disk": e.get("disk", 0), "maxdisk": e.get("maxdisk", 0), "level": "",
                        "cgroup-mode": 2})
    if kind in (None, "storage"):
        for s in storage_sections(ctx):
            if s.props.get("disable"):
                continue
            allowed = s.props.get("nodes")
            for name in visible:
                if allowed and name not in allowed.split(","):
                    continue
                online = t.sees(ctx.node, name)
                out.append({"id": f"storage/{name}/{s.id}", "type": "storage", "storage": s.id, "node": name,
                            "status": "available" if online else "unknown", "plugintype": s.type,
                            "content": s.props.get("content", "none"),
                            "shared": int(s.type in SHARED_TYPES or s.props.get("shared") == "1"),
                            "disk": 10 * 1024**3, "maxdisk": 800 * 1024**3})
    if kind in (None, "vm"):
        ha = _ha_states(ctx)
        seen = {name: t.sees(ctx.node, name) for name in visible}  # per node, not per guest
        for g in ctx.store.query("SELECT * FROM guests ORDER BY vmid"):
            if g["node"] not in visible:
                continue
            online = seen[g["node"]]
            status = g["status"] if online else "unknown"
            entry: dict[str, Any] = {"id": f"{g['type']}/{g['vmid']}", "type": g["type"], "vmid": g["vmid"],
                                     "name": g["name"], "node": g["node"], "status": status,
                                     "maxmem": g["memory_mb"] * 1024 * 1024, "maxcpu": g["cores"],
                                     "mem": g["memory_mb"] * 1024 * 1024 // 2 if status == "running" else 0,
                                     "cpu": 0.01 if status == "running" else 0, "uptime": 0, "template": 0,
                                     "disk": 0, "maxdisk": 32 * 1024**3, "netin": 0, "netout": 0,
                                     "diskread": 0, "diskwrite": 0}
            sid = f"{'vm' if g['type'] == 'qemu' else 'ct'}:{g['vmid']}"
            if sid in ha:
                entry["hastate"] = ha[sid]
            out.append(entry)
    return out


def _ha_states(ctx: Ctx) -> dict[str, str]:
    from provision.lab.ops.ha import service_states

    return service_states(ctx)


@route("GET", "/nodes/{node}/tasks/{upid}/status")
def task_status(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    upid = p_req(params, "upid")
    row = ctx.store.one("SELECT * FROM tasks WHERE upid = ?", (upid,))
    if row is None or row["node"] != params["node"]:
        raise ApiError(500, f"no such task '{upid}'" if row is None else "unable to parse worker upid")
    pstart = int(upid.split(":")[3], 16)
    out: dict[str, Any] = {"upid": upid, "node": row["node"], "pid": row["pid"], "pstart": pstart,
                           "starttime": row["starttime"], "type": row["type"], "id": row["id"],
                           "user": row["user"], "status": row["status"]}
    if row["status"] == "stopped":
        out["exitstatus"] = row["exitstatus"]
    return out


@route("GET", "/nodes/{node}/tasks/{upid}/log")
def task_log(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    row = ctx.store.one("SELECT log FROM tasks WHERE upid = ?", (params["upid"],))
    if row is None:
        raise ApiError(500, f"no such task '{params['upid']}'")
    return [{"n": i + 1, "t": line} for i, line in enumerate(str(row["log"]).splitlines())]


@route("GET", "/nodes/{node}/tasks")
def task_list(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = ctx.store.query("SELECT * FROM tasks WHERE node = ? ORDER BY starttime DESC LIMIT 50", (params["node"],))
    return [{"upid": r["upid"], "node": r["node"], "pid": r["pid"], "starttime": r["starttime"],
             "endtime": r["endtime"], "type": r["type"], "id": r["id"], "user": r["user"],
             "status": r["exitstatus"]} for r in rows]


@route("GET", "/nodes/{node}/disks/list")
def disks(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    node = params["node"]
    require_node(ctx, node)
    only = p_enum(params, "type", ("unused", "journal_disks"))
    # pve-storage Diskmanage.pm get_disks: without skipsmart every disk is asked for SMART
    # data (smartctl, slow on disk-heavy nodes); with it health is UNKNOWN and wearout N/A
    skipsmart = p_bool(params, "skipsmart", False)
    out = []
    for d in ctx.store.query("SELECT * FROM disks WHERE node = ? ORDER BY dev", (node,)):
        used = d["used_by"]
        if only == "unused" and used:
            continue
        if only == "journal_disks" and used and not str(used).startswith("ceph-osd-db"):
            continue
        entry: dict[str, Any] = {"devpath": d["dev"], "size": d["size"], "type": d["kind"], "model": d["model"],
                                 "serial": d["serial"], "vendor": "ATA     " if d["kind"] != "nvme" else "unknown",
                                 "wwn": "unknown", "health": "UNKNOWN" if skipsmart else "PASSED", "rpm": 0,
                                 "gpt": int(bool(used)), "wearout": "N/A" if skipsmart else 100,
                                 "by_id_link": f"/dev/disk/by-id/lab-{d['serial']}",
                                 "osdid": -1, "osdid-list": None}
        if used:
            if str(used).startswith("ceph-osd"):
                ids = [int(x) for x in str(used).split(":", 1)[1].split(",")]
                entry["used"] = "LVM"
                entry["osdid"] = ids[0]
                entry["osdid-list"] = ids
            else:
                entry["used"] = used
        out.append(entry)
    return out


@route("GET", "/nodes/{node}/version")
def node_version(ctx: Ctx, params: dict[str, Any]) -> dict[str, str]:
    require_node(ctx, params["node"])
    return _version(ctx)
