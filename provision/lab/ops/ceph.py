"""Hyper-converged Ceph under ``/nodes/{node}/ceph`` with Proxmox's preconditions and messages.

The lab keeps Ceph's runtime (monmap, mgrmap, OSD map, pools, file systems) in tables and
``/etc/pve/ceph.conf`` as the file PVE writes. Health is computed from the layout the way
the monitors would report it (``health()``), so a pool of size 3 on two OSD hosts is
degraded, a lost monitor majority is an error, and so on.
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from pathlib import Path
from typing import Any

from provision.lab import real
from provision.lab.files import CEPH_CONF, STORAGE, parse_ceph_conf, parse_sections, write_ceph_conf, write_sections
from provision.lab.formats import ceph_conf
from provision.lab.formats.sectionconfig import Section
from provision.lab.ops import ceph_pgs, packages
from provision.lab.ops.common import require_node, require_quorum, task, worker
from provision.lab.real.host import RealLabError
from provision.lab.registry import ApiError, Ctx, p_bool, p_enum, p_int, p_req, p_str, param_error, route
from provision.lab.store import Store

CEPH_VERSION = {8: ("18.2.7", "reef"), 9: ("19.2.3", "squid")}
NOT_INITIALIZED = "pveceph configuration not initialized - missing '/etc/pve/ceph.conf'"


def _version(ctx: Ctx) -> tuple[str, str]:
    return CEPH_VERSION[ctx.pve_version]


def _conf(ctx: Ctx) -> dict[str, dict[str, str]]:
    text = ctx.store.get_file(CEPH_CONF)
    if text is None:
        raise ApiError(500, NOT_INITIALIZED)
    return parse_ceph_conf(text)


def _save_conf(ctx: Ctx, conf: dict[str, dict[str, str]]) -> None:
    ctx.store.put_file(CEPH_CONF, write_ceph_conf(conf))


def _up_nodes(store: Store) -> set[str]:
    return {r["name"] for r in store.query("SELECT name FROM nodes WHERE power = 1")}


def mon_quorum(store: Store) -> tuple[list[str], list[str]]:
    """(all monitor names, monitors in quorum); quorum needs a strict majority running."""
    up = _up_nodes(store)
    mons = store.query("SELECT name, host, running FROM ceph_mons ORDER BY name")
    names = [m["name"] for m in mons]
    running = [m["name"] for m in mons if m["running"] and m["host"] in up]
    if len(running) * 2 > len(names):
        return names, running
    return names, []


def _require_rados(ctx: Ctx) -> None:
    """Anything that talks to the monitors fails like librados does without a quorum."""
    _conf(ctx)
    names, quorum = mon_quorum(ctx.store)
    if not names:
        raise ApiError(500, "rados_connect failed - No such file or directory")
    if not quorum:
        raise ApiError(500, "got timeout")


def _node_public_ip(ctx: Ctx, node: str, network: str | None) -> str:
    """The node's address inside Ceph's public network (from its interfaces file)."""
    from provision.lab.ops.network import node_addresses

    addrs = node_addresses(ctx, node)
    if not network:
        row = ctx.store.one("SELECT ip FROM nodes WHERE name = ?", (node,))
        return str(row["ip"]) if row else ""
    net = ipaddress.ip_network(network, strict=False)
    for a in addrs:
        if ipaddress.ip_address(a) in net:
            return a
    raise ApiError(500, f"unable to find local address within network '{network}'")


# --- init / status ----------------------------------------------------------------------------


@route("GET", "/nodes/{node}/ceph")
def index(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, str]]:
    require_node(ctx, params["node"])
    names = ("cfg", "cmd-safety", "config", "configdb", "crush", "fs", "init", "log", "mds", "mgr", "mon", "osd",
             "pool", "restart", "rules", "start", "status", "stop")
    return [{"name": n} for n in names]


@route("GET", "/nodes/{node}/ceph/cfg/raw")
def cfg_raw(ctx: Ctx, params: dict[str, Any]) -> str:
    """The ceph.conf text as stored in /etc/pve (PVE returns it as one string)."""
    require_node(ctx, params["node"])
    text = ctx.store.get_file(CEPH_CONF)
    if text is None:
        raise ApiError(500, NOT_INITIALIZED)
    return text


@route("POST", "/nodes/{node}/ceph/init")
def init(ctx: Ctx, params: dict[str, Any]) -> None:
    node = params["node"]
    require_node(ctx, node)
    network = p_str(params, "network")
    cluster_network = p_str(params, "cluster-network")
    for name, value in (("network", network), ("cluster-network", cluster_network)):
        if value is not None:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise param_error(name, f"value does not match the regex pattern (invalid CIDR '{value}')") from None
    size = p_int(params, "size", 3, lo=1, hi=7)
    min_size = p_int(params, "min_size", 2, lo=1, hi=7)
    p_int(params, "pg_bits", lo=6, hi=14)
    cephx = not p_bool(params, "disable_cephx", False)
    packages.require_ceph(ctx, node, "init")
    with ctx.store.tx():
        require_quorum(ctx)
        text = ctx.store.get_file(CEPH_CONF)
        existing = parse_ceph_conf(text) if text is not None else {}
        assert size is not None and min_size is not None
        _save_conf(ctx, ceph_conf.pveceph_init(existing, fsid=str(uuid.uuid4()), network=network,
                                               cluster_network=cluster_network, size=size, min_size=min_size,
                                               disable_cephx=not cephx))
        if ctx.store.get_file("priv/ceph.client.admin.keyring") is None:
            ctx.store.put_file("priv/ceph.client.admin.keyring", f"[client.admin]\n\tkey = {uuid.uuid4().hex}\n")
    return None


def health(store: Store) -> dict[str, Any]:
    """``health`` of ``ceph -s``: status plus the checks the layout triggers."""
    checks: dict[str, dict[str, Any]] = {}

    def check(name: str, severity: str, message: str, count: int = 1) -> None:
        checks[name] = {"severity": severity, "summary": {"message": message, "count": count}, "muted": False}

    up = _up_nodes(store)
    names, quorum = mon_quorum(store)
    if names and not quorum:
        check("MON_DOWN", "HEALTH_ERR", f"{len(names)}/{len(names)} mons down, no quorum", len(names))
    elif len(quorum) < len(names):
        missing = len(names) - len(quorum)
        check("MON_DOWN", "HEALTH_WARN", f"{missing}/{len(names)} mons down, quorum {','.join(quorum)}", missing)
    mgrs = store.query("SELECT * FROM ceph_mgrs WHERE running = 1")
    if names and not any(m["host"] in up for m in mgrs):
        check("MGR_DOWN", "HEALTH_WARN", "no active mgr")
    osds = store.query("SELECT * FROM ceph_osds")
    default_size = 3
    text = store.get_file(CEPH_CONF)
    if text:
        default_size = int(parse_ceph_conf(text).get("global", {}).get("osd_pool_default_size", "3"))
    if names and len(osds) < default_size:
        check("TOO_FEW_OSDS", "HEALTH_WARN", f"OSD count {len(osds)} < osd_pool_default_size {default_size}")
    down = [o for o in osds if not (o["running"] and o["host"] in up)]
    if down:
        check("OSD_DOWN", "HEALTH_WARN", f"{len(down)} osds down", len(down))
        hosts: dict[str, list[int]] = {}
        for o in osds:
            hosts.setdefault(o["host"], []).append(int(o["running"] and o["host"] in up))
        dead = [h for h, st in hosts.items() if not any(st)]
        if dead:
            n = sum(len(hosts[h]) for h in dead)
            check("OSD_HOST_DOWN", "HEALTH_WARN", f"{len(dead)} host ({n} osds) down", len(dead))
    active_hosts = {o["host"] for o in osds if o["running"] and o["host"] in up and o["in_"]}
    pools = store.query("SELECT * FROM ceph_pools")
    degraded = [p for p in pools if len(active_hosts) < p["size"]]
    inactive = [p for p in pools if len(active_hosts) < p["min_size"]]
    if degraded:
        undersized = sum(p["pg_num"] for p in degraded)
        check("PG_DEGRADED", "HEALTH_WARN", f"Degraded data redundancy: {undersized} pgs undersized", undersized)
    if inactive:
        stuck = sum(p["pg_num"] for p in inactive)
        check("PG_AVAILABILITY", "HEALTH_WARN", f"Reduced data availability: {stuck} pgs inactive", stuck)
    for name, (severity, message, count) in ceph_pgs.checks(store).items():
        if name not in checks or checks[name]["summary"]["count"] < count:
            check(name, severity, message, count)
    norepl = [p for p in pools if p["size"] == 1]
    if norepl:
        check("POOL_NO_REDUNDANCY", "HEALTH_WARN", f"{len(norepl)} pool(s) have no replicas configured", len(norepl))
    fss = store.query("SELECT * FROM ceph_fs")
    mds_up = [m for m in store.query("SELECT * FROM ceph_mds WHERE running = 1") if m["host"] in up]
    offline = [f for f in fss if not mds_up or not f["joinable"]]  # `ceph fs fail` takes its ranks down
    if offline:
        check("MDS_ALL_DOWN", "HEALTH_ERR", f"{len(offline)} filesystem is offline", len(offline))
    status = "HEALTH_OK"
    if any(c["severity"] == "HEALTH_ERR" for c in checks.values()):
        status = "HEALTH_ERR"
    elif checks:
        status = "HEALTH_WARN"
    return {"status": status, "checks": checks, "mutes": []}


@route("GET", "/nodes/{node}/ceph/status")
def status(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    require_node(ctx, params["node"])
    _require_rados(ctx)
    return ceph_status(ctx)


def real_status(store: Store, root: Path) -> dict[str, Any] | None:
    """With real Ceph under the lab (``lab up --real-ceph``), what its ``ceph status -f
    json`` says, which PVE's status endpoint returns as is; librados's timeout without a
    MON quorum becomes PVE's "got timeout"."""
    if not real.enabled(root):
        return None
    from provision.lab.real import ceph as real_ceph

    try:
        return real_ceph.status(store, root)
    except RealLabError:
        raise ApiError(500, "got timeout") from None


def current_health(store: Store, root: Path) -> dict[str, Any]:
    """``lab status``'s Ceph health: the real cluster's when there is one."""
    try:
        doc = real_status(store, root)
    except ApiError as exc:
        return {"status": "UNREACHABLE", "checks": {}, "mutes": [], "error": exc.message}
    return health(store) if doc is None else dict(doc["health"])


def ceph_status(ctx: Ctx) -> dict[str, Any]:
    """The ``ceph -s --format json`` document."""
    doc = real_status(ctx.store, ctx.paths.root)
    if doc is not None:
        return doc
    conf = _conf(ctx)
    st = ctx.store
    names, quorum = mon_quorum(st)
    up = _up_nodes(st)
    osds = st.query("SELECT * FROM ceph_osds")
    pools = st.query("SELECT * FROM ceph_pools")
    mgrs = st.query("SELECT * FROM ceph_mgrs ORDER BY created")
    active = _active_mgr(st)
    pgs = sum(p["pg_num"] for p in pools)
    used = sum(o["size"] for o in osds) // 100
    total = sum(o["size"] for o in osds)
    epoch = 1 + len(names)
    fss = st.query("SELECT * FROM ceph_fs")
    mds = mds_states(ctx)
    serving = [m for m in mds if m["state"] == "up:active"]
    return {
        "fsid": conf.get("global", {}).get("fsid", ""),
        "health": health(st),
        "election_epoch": 2 * len(names) + 1,
        "quorum": [names.index(n) for n in quorum],
        "quorum_names": quorum,
        "quorum_age": 3600,
        "monmap": {"epoch": len(names), "min_mon_release_name": _version(ctx)[1], "num_mons": len(names)},
        "osdmap": {"epoch": epoch + len(osds), "num_osds": len(osds),
                   "num_up_osds": sum(1 for o in osds if o["running"] and o["host"] in up),
                   "osd_up_since": int(time.time()) - 600, "num_in_osds": sum(1 for o in osds if o["in_"]),
                   "osd_in_since": int(time.time()) - 600, "num_remapped_pgs": 0},
        "pgmap": {"pgs_by_state": [{"state_name": k, "count": v} for k, v in ceph_pgs.pg_states(st).items()],
                  "num_pgs": pgs, "num_pools": len(pools), "num_objects": 0, "data_bytes": 0,
                  "bytes_used": used, "bytes_avail": total - used, "bytes_total": total},
        "fsmap": {"epoch": 1 + len(fss), "by_rank": [
            {"filesystem_id": i + 1, "rank": 0, "name": m["name"], "status": "up:active", "gid": 4000 + i}
            for i, m in enumerate(serving)
        ], "up:standby": sum(1 for m in mds if m["state"] == "up:standby")},
        "mgrmap": {"available": active is not None,
                   "num_standbys": max(sum(1 for m in mgrs if m["running"] and m["host"] in up) - 1, 0),
                   "modules": ["iostat", "nfs", "restful"], "services": {}},
        "servicemap": {"epoch": 1, "modified": "0.000000", "services": {}},
        "progress_events": {},
    }


# --- monitors / managers / metadata servers ---------------------------------------------------


def _active_mgr(store: Store) -> str | None:
    up = _up_nodes(store)
    for m in store.query("SELECT * FROM ceph_mgrs ORDER BY created"):
        if m["running"] and m["host"] in up:
            return str(m["name"])
    return None


@route("GET", "/nodes/{node}/ceph/mon")
def mon_list(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    node = params["node"]
    require_node(ctx, node)
    _conf(ctx)
    _names, quorum = mon_quorum(ctx.store)
    ver, _ = _version(ctx)
    out = []
    for rank, m in enumerate(ctx.store.query("SELECT * FROM ceph_mons ORDER BY name")):
        inq = m["name"] in quorum
        out.append({"name": m["name"], "host": m["host"], "addr": f"{m['addr']}:6789/0", "rank": rank,
                    "quorum": int(inq), "state": "running" if inq else "stopped",
                    "service": int(m["host"] == node), "direxists": int(m["host"] == node),
                    "ceph_version": f"ceph version {ver} ({_version(ctx)[1]})", "ceph_version_short": ver})
    return out


@route("POST", "/nodes/{node}/ceph/mon/{monid}")
def mon_create(ctx: Ctx, params: dict[str, Any]) -> str:
    node = params["node"]
    require_node(ctx, node)
    monid = p_str(params, "monid", node) or node
    packages.require_ceph(ctx, node, "ceph-mon")
    with ctx.store.tx():
        require_quorum(ctx)
        conf = _conf(ctx)
        glob = conf.setdefault("global", {})
        if ctx.store.one("SELECT 1 FROM ceph_mons WHERE name = ?", (monid,)):
            raise ApiError(500, f"monitor '{monid}' already exists")
        if ctx.store.one("SELECT 1 FROM ceph_mons WHERE host = ?", (node,)):
            raise ApiError(500, f"monitor address '{_node_public_ip(ctx, node, None)}' already in use")
        addr = p_str(params, "mon-address") or _node_public_ip(ctx, node, glob.get("public_network"))
        if ctx.store.one("SELECT 1 FROM ceph_mons WHERE addr = ?", (addr,)):
            raise ApiError(500, f"monitor address '{addr}' already in use")
        first = ctx.store.one("SELECT COUNT(*) AS c FROM ceph_mons")["c"] == 0  # type: ignore[index]
        if not first:
            _names, quorum = mon_quorum(ctx.store)
            if not quorum:
                raise ApiError(500, "got timeout")
        now = time.time()
        known = {r["name"]: r["addr"] for r in ctx.store.query("SELECT name, addr FROM ceph_mons")}
        ctx.store.exec("INSERT INTO ceph_mons(name, host, addr, running, created) VALUES(?,?,?,1,?)",
                       (monid, node, addr, now))
        _save_conf(ctx, ceph_conf.add_monitor(conf, monid, [addr], known_monitors=known))
        log = ("creating new monitor keyring\nmonmaptool: monmap file /tmp/monmap\n"
               f"starting service 'ceph-mon@{monid}'\n")
        if first and not ctx.store.one("SELECT 1 FROM ceph_mgrs WHERE name = ?", (node,)):
            ctx.store.exec("INSERT INTO ceph_mgrs(name, host, addr, running, created) VALUES(?,?,?,1,?)",
                           (node, node, addr, now))
            log += f"creating manager directory '/var/lib/ceph/mgr/ceph-{node}'\nstarting service 'ceph-mgr@{node}'\n"
        return task(ctx, node, "cephcreatemon", f"mon.{monid}", log)


@route("DELETE", "/nodes/{node}/ceph/mon/{monid}")
def mon_destroy(ctx: Ctx, params: dict[str, Any]) -> str:
    node = params["node"]
    require_node(ctx, node)
    monid = p_req(params, "monid")
    with ctx.store.tx():
        require_quorum(ctx)
        conf = _conf(ctx)
        row = ctx.store.one("SELECT * FROM ceph_mons WHERE name = ?", (monid,))
        if row is None:
            raise ApiError(500, f"no such monitor id '{monid}'")
        if ctx.store.one("SELECT COUNT(*) AS c FROM ceph_mons")["c"] <= 1:  # type: ignore[index]
            raise ApiError(500, "can't remove last monitor")
        _require_rados(ctx)
        ctx.store.exec("DELETE FROM ceph_mons WHERE name = ?", (monid,))
        _save_conf(ctx, ceph_conf.remove_monitor(conf, monid, row["addr"]))
        return task(ctx, node, "cephdestroymon", f"mon.{monid}")


@route("GET", "/nodes/{node}/ceph/mgr")
def mgr_list(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    require_node(ctx, params["node"])
    _conf(ctx)
    active = _active_mgr(ctx.store)
    up = _up_nodes(ctx.store)
    out = []
    for m in ctx.store.query("SELECT * FROM ceph_mgrs ORDER BY name"):
        state = "active" if m["name"] == active else "standby" if m["running"] and m["host"] in up else "stopped"
        out.append({"name": m["name"], "host": m["host"], "addr": m["addr"], "state": state})
    return out


def _daemon_create(ctx: Ctx, params: dict[str, Any], table: str, key: str, kind: str) -> str:
    node = params["node"]
    require_node(ctx, node)
    name = p_str(params, key, node) or node
    packages.require_ceph(ctx, node, f"ceph-{kind}")
    with ctx.store.tx():
        require_quorum(ctx)
        _require_rados(ctx)
        if ctx.store.one(f"SELECT 1 FROM {table} WHERE name = ?", (name,)):
            raise ApiError(500, f"ceph {'manager' if kind == 'mgr' else 'MDS'} directory "
                           f"'/var/lib/ceph/{kind}/ceph-{name}' already exists")
        # the daemon binds to the node's address in Ceph's public network (as the MON does)
        try:
            addr = _node_public_ip(ctx, node, _conf(ctx).get("global", {}).get("public_network"))
        except ApiError:
            addr = _node_public_ip(ctx, node, None)
        if table == "ceph_mds":
            ctx.store.exec("INSERT INTO ceph_mds(name, host, addr, running, standby_replay, created) "
                           "VALUES(?,?,?,1,?,?)", (name, node, addr, int(bool(p_bool(params, "hotstandby"))),
                                                   time.time()))
        else:
            ctx.store.exec(f"INSERT INTO {table}(name, host, addr, running, created) VALUES(?,?,?,1,?)",
                           (name, node, addr, time.time()))
        return task(ctx, node, f"cephcreate{kind}", f"{kind}.{name}",
                    f"starting service 'ceph-{kind}@{name}'\n")


def _daemon_destroy(ctx: Ctx, params: dict[str, Any], table: str, key: str, kind: str) -> str:
    node = params["node"]
    require_node(ctx, node)
    name = p_req(params, key)
    with ctx.store.tx():
        require_quorum(ctx)
        row = ctx.store.one(f"SELECT * FROM {table} WHERE name = ?", (name,))
        if row is None or row["host"] != node:
            raise ApiError(500, f"{'manager' if kind == 'mgr' else 'MDS'} '{name}' does not exist on node '{node}'"
                           if kind == "mgr" else f"ceph MDS '{name}' does not exist on this node")
        ctx.store.exec(f"DELETE FROM {table} WHERE name = ?", (name,))
        return task(ctx, node, f"cephdestroy{kind}", f"{kind}.{name}")


@route("POST", "/nodes/{node}/ceph/mgr/{id}")
def mgr_create(ctx: Ctx, params: dict[str, Any]) -> str:
    return _daemon_create(ctx, params, "ceph_mgrs", "id", "mgr")


@route("DELETE", "/nodes/{node}/ceph/mgr/{id}")
def mgr_destroy(ctx: Ctx, params: dict[str, Any]) -> str:
    return _daemon_destroy(ctx, params, "ceph_mgrs", "id", "mgr")


#: Seconds of real time from ``pveceph mds create`` until the daemon has registered with
#: the monitors as a standby (``Services.pm`` create_mds only starts the unit and does not
#: wait); the lab scales it by ``--time-scale`` like its other delays.
MDS_BOOT_S = 5.0


def mds_states(ctx: Ctx) -> list[dict[str, Any]]:
    """Every MDS as ``get_cluster_mds_state`` + ceph.conf see it: ``unknown`` until it has
    registered, then ``up:standby``, or ``up:active`` (with ``rank``, ``fs_name``) once a
    file system took it; ``stopped`` when its node or daemon is down. A file system that
    ``ceph fs fail`` marked not joinable takes no MDS (its daemons stay standbys)."""
    up = _up_nodes(ctx.store)
    scale = float(ctx.store.get_meta("time_scale", 0.02))
    now = time.time()
    unserved = [str(f["name"]) for f in ctx.store.query("SELECT name FROM ceph_fs WHERE joinable = 1 ORDER BY name")]
    out = []
    for m in ctx.store.query("SELECT * FROM ceph_mds ORDER BY created"):
        entry: dict[str, Any] = {"name": m["name"], "host": m["host"], "addr": f"{m['addr']}:6800/0",
                                 "standby_replay": m["standby_replay"]}
        if not (m["running"] and m["host"] in up):
            entry["state"] = "stopped"
        elif now - float(m["created"]) < MDS_BOOT_S * scale:
            entry["state"] = "unknown"
        elif unserved:
            entry.update({"state": "up:active", "rank": 0, "fs_name": unserved.pop(0)})
        else:
            entry["state"] = "up:standby"
        out.append(entry)
    return out


@route("GET", "/nodes/{node}/ceph/mds")
def mds_list(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    require_node(ctx, params["node"])
    _conf(ctx)
    return mds_states(ctx)


@route("POST", "/nodes/{node}/ceph/mds/{name}")
def mds_create(ctx: Ctx, params: dict[str, Any]) -> str:
    return _daemon_create(ctx, params, "ceph_mds", "name", "mds")


@route("DELETE", "/nodes/{node}/ceph/mds/{name}")
def mds_destroy(ctx: Ctx, params: dict[str, Any]) -> str:
    return _daemon_destroy(ctx, params, "ceph_mds", "name", "mds")


# --- OSDs -------------------------------------------------------------------------------------


@route("GET", "/nodes/{node}/ceph/osd")
def osd_tree(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    require_node(ctx, params["node"])
    _require_rados(ctx)
    up = _up_nodes(ctx.store)
    ver, _ = _version(ctx)
    hosts: dict[str, list[dict[str, Any]]] = {}
    for o in ctx.store.query("SELECT * FROM ceph_osds ORDER BY id"):
        is_up = bool(o["running"] and o["host"] in up)
        weight = round(o["size"] / 1024**4, 5)
        hosts.setdefault(o["host"], []).append({
            "id": o["id"], "name": f"osd.{o['id']}", "type": "osd", "leaf": 1, "host": o["host"],
            "status": "up" if is_up else "down", "in": o["in_"], "crush_weight": weight,
            "reweight": 1 if o["in_"] else 0, "device_class": o["class"], "pgs": 0,
            "total_space": o["size"], "bytes_used": o["size"] // 100, "percent_used": 1.0,
            "commit_latency_ms": 0, "apply_latency_ms": 0, "osdtype": "bluestore", "blfsdev": o["dev"],
            "dbdev": o["db_dev"] or "", "waldev": o["wal_dev"] or "",
            "ceph_version": f"ceph version {ver}", "ceph_version_short": ver,
        })
    children = []
    for i, (host, leaves) in enumerate(sorted(hosts.items()), start=2):
        children.append({"id": -i, "name": host, "type": "host", "leaf": 0, "children": leaves,
                         "version": ver})
    flags = ",".join(f for f in ctx.store.get_meta("ceph_osd_flags", ["sortbitwise", "recovery_deletes",
                                                                         "purged_snapdirs", "pglog_hardlimit"]))
    return {"root": {"leaf": 0, "children": [{"id": -1, "name": "default", "type": "root", "leaf": 0,
                                               "children": children}]}, "flags": flags}


@route("POST", "/nodes/{node}/ceph/osd")
def osd_create(ctx: Ctx, params: dict[str, Any]) -> str:
    node = params["node"]
    require_node(ctx, node)
    dev = p_req(params, "dev")
    db_dev = p_str(params, "db_dev")
    wal_dev = p_str(params, "wal_dev")
    dclass = p_str(params, "crush-device-class")
    p_bool(params, "encrypted")
    per_device = p_int(params, "osds-per-device", 1, lo=1) or 1
    packages.require_ceph(ctx, node, "ceph-osd")
    with ctx.store.tx():
        require_quorum(ctx)
        _require_rados(ctx)
        disk = ctx.store.one("SELECT * FROM disks WHERE node = ? AND dev = ?", (node, dev))
        if disk is None:
            raise ApiError(500, f"unable to get device info for '{dev}'")
        if disk["used_by"]:
            raise ApiError(500, f"device '{dev}' is already in use")
        for extra in (db_dev, wal_dev):
            if extra and ctx.store.one("SELECT 1 FROM disks WHERE node = ? AND dev = ?", (node, extra)) is None:
                raise ApiError(500, f"unable to get device info for '{extra}'")
        ids: list[int] = []
        for _ in range(per_device):
            used = {r["id"] for r in ctx.store.query("SELECT id FROM ceph_osds")}
            osdid = 0
            while osdid in used:
                osdid += 1
            ctx.store.exec(
                "INSERT INTO ceph_osds(id, host, dev, running, in_, class, size, db_dev, wal_dev, uuid) "
                "VALUES(?,?,?,1,1,?,?,?,?,?)",
                (osdid, node, dev, dclass or disk["kind"], disk["size"] // per_device, db_dev, wal_dev,
                 str(uuid.uuid4())),
            )
            ids.append(osdid)
        ctx.store.exec("UPDATE disks SET used_by = ? WHERE node = ? AND dev = ?",
                       ("ceph-osd:" + ",".join(map(str, ids)), node, dev))
        for extra in (db_dev, wal_dev):
            if extra:
                row = ctx.store.one("SELECT used_by FROM disks WHERE node = ? AND dev = ?", (node, extra))
                prev = str(row["used_by"]) if row and row["used_by"] else ""
                merged = ",".join(x for x in [prev.split(":", 1)[1] if prev.startswith("ceph-osd-db:") else ""]
                                  + [str(i) for i in ids] if x)
                ctx.store.exec("UPDATE disks SET used_by = ? WHERE node = ? AND dev = ?",
                               ("ceph-osd-db:" + merged, node, extra))
        name = dev.rsplit("/", 1)[-1]
        log = f"create OSD on {dev} (bluestore)\nwiping block device {dev}\n" + "".join(
            f"Running command: /usr/sbin/ceph-volume lvm create --osd-id {i} --data {dev}\n" for i in ids)
        return task(ctx, node, "cephcreateosd", name, log)


@route("DELETE", "/nodes/{node}/ceph/osd/{osdid}")
def osd_destroy(ctx: Ctx, params: dict[str, Any]) -> str:
    node = params["node"]
    require_node(ctx, node)
    osdid = p_int(params, "osdid", lo=0)
    cleanup = bool(p_bool(params, "cleanup", False))
    with ctx.store.tx():
        require_quorum(ctx)
        _require_rados(ctx)
        o = ctx.store.one("SELECT * FROM ceph_osds WHERE id = ?", (osdid,))
        if o is None:
            raise ApiError(500, f"osd '{osdid}' does not exist")
        if o["host"] != node:
            raise ApiError(500, f"OSD osd.{osdid} does not belong to node {node}!")
        up = o["running"] and o["host"] in _up_nodes(ctx.store)
        if o["in_"]:
            raise ApiError(500, "osd is in use (in == 1)")
        if up:
            raise ApiError(500, "osd is still running (up == 1)")
        ceph_pgs.on_destroy(ctx.store, o)
        ctx.store.exec("DELETE FROM ceph_osds WHERE id = ?", (osdid,))
        remaining = [str(r["id"]) for r in ctx.store.query("SELECT id FROM ceph_osds WHERE host = ? AND dev = ?",
                                                           (node, o["dev"]))]
        if not remaining:
            # the LVs are removed with the OSD; --cleanup also wipes the disk's partition table
            ctx.store.exec("UPDATE disks SET used_by = NULL WHERE node = ? AND dev = ?", (node, o["dev"]))
        else:
            ctx.store.exec("UPDATE disks SET used_by = ? WHERE node = ? AND dev = ?",
                           ("ceph-osd:" + ",".join(remaining), node, o["dev"]))
        for extra in (o["db_dev"], o["wal_dev"]):
            if extra:
                row = ctx.store.one("SELECT used_by FROM disks WHERE node = ? AND dev = ?", (node, extra))
                ids = [x for x in str(row["used_by"] or "").split(":", 1)[-1].split(",")
                       if x and x != str(osdid)] if row else []
                ctx.store.exec("UPDATE disks SET used_by = ? WHERE node = ? AND dev = ?",
                               ("ceph-osd-db:" + ",".join(ids) if ids else None, node, extra))
        log = f"destroy OSD osd.{osdid}\nRemove osd.{osdid} from the CRUSH map\n"
        if cleanup:
            log += f"wipe disk/partition: {o['dev']}\n"
        return task(ctx, node, "cephdestroyosd", str(osdid), log)


def set_osd(ctx: Ctx, osdid: int, *, in_: bool | None = None, running: bool | None = None) -> None:
    """``ceph osd in/out`` and ``systemctl start/stop ceph-osd@N``."""
    with ctx.store.tx():
        if in_ is not None:
            _require_rados(ctx)
        o = ctx.store.one("SELECT * FROM ceph_osds WHERE id = ?", (osdid,))
        if o is None:
            raise ApiError(500, f"osd.{osdid} does not exist")
        if running is not None and o["host"] != ctx.node:
            raise ApiError(500, f"Unit ceph-osd@{osdid}.service not found.")
        if in_ is not None:
            ctx.store.exec("UPDATE ceph_osds SET in_ = ? WHERE id = ?", (int(in_), osdid))
            ceph_pgs.mark_out(ctx.store, osdid, not in_)
        if running is not None:
            ctx.store.exec("UPDATE ceph_osds SET running = ? WHERE id = ?", (int(running), osdid))


@route("POST", "/nodes/{node}/ceph/osd/{osdid}/in")
def osd_in(ctx: Ctx, params: dict[str, Any]) -> None:
    require_node(ctx, params["node"])
    set_osd(ctx, p_int(params, "osdid", lo=0) or 0, in_=True)


@route("POST", "/nodes/{node}/ceph/osd/{osdid}/out")
def osd_out(ctx: Ctx, params: dict[str, Any]) -> None:
    require_node(ctx, params["node"])
    set_osd(ctx, p_int(params, "osdid", lo=0) or 0, in_=False)


def osd_safety(ctx: Ctx, osdid: int, action: str) -> tuple[int, str]:
    """`ceph osd ok-to-stop` / `safe-to-destroy`: (return code, status message) from the
    real monitors under a ``--real-ceph`` lab, else from the PG model."""
    _require_rados(ctx)
    if real.enabled(ctx.paths.root):
        from provision.lab.real import ceph as real_ceph

        try:
            answer = real_ceph.osd_safety(ctx.store, ctx.paths.root, osdid, action)
        except RealLabError:
            raise ApiError(500, "got timeout") from None
        if answer is not None:
            return answer
    o = ctx.store.one("SELECT * FROM ceph_osds WHERE id = ?", (osdid,))
    if o is None:
        return 2, f"osd.{osdid} does not exist"
    if action == "destroy":
        return ceph_pgs.safe_to_destroy(ctx.store, o)
    return ceph_pgs.ok_to_stop(ctx.store, o, _up_nodes(ctx.store))


@route("GET", "/nodes/{node}/ceph/cmd-safety")
def cmd_safety(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """pve-manager asks the monitors `osd ok-to-stop` / `osd safe-to-destroy` and returns safe + status."""
    require_node(ctx, params["node"])
    p_req(params, "service")
    p_req(params, "action")
    service = p_enum(params, "service", ("osd", "mon", "mds"))
    action = p_enum(params, "action", ("stop", "destroy"))
    ident = p_req(params, "id")
    _conf(ctx)
    if service != "osd":
        raise ApiError(500, f"Service does not support this action: {service}: {action}")
    if not ident.isdigit():
        raise ApiError(500, f"invalid osd id '{ident}'")
    rc, message = osd_safety(ctx, int(ident), str(action))
    # PVE 8 answers safe as 1/0, PVE 9 as a JSON boolean
    return {"safe": rc == 0 if ctx.pve_version >= 9 else int(rc == 0), "status": message}


# --- pools ------------------------------------------------------------------------------------

APPLICATIONS = ("rbd", "cephfs", "rgw")
AUTOSCALE = ("on", "off", "warn")


def _pool_api(p: Any, detail: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "pool": p["id"], "pool_name": p["name"], "size": p["size"], "min_size": p["min_size"],
        "pg_num": p["pg_num"], "pg_num_final": p["pg_num"], "pg_num_min": p["pg_num_min"],
        "pg_autoscale_mode": p["pg_autoscale_mode"], "crush_rule": 0, "crush_rule_name": p["crush_rule"],
        "type": p["type"], "application_metadata": {p["application"]: {}},
        "autoscale_status": {"pool_name": p["name"], "pg_num_target": p["pg_num"], "would_adjust": False},
        "target_size": p["target_size"], "target_size_ratio": p["target_size_ratio"],
        "bytes_used": 0, "percent_used": 0.0,
    }
    if p["pg_num_min"] is None:
        d.pop("pg_num_min")
    if p["target_size"] is None:
        d.pop("target_size")
    if p["target_size_ratio"] is None:
        d.pop("target_size_ratio")
    if detail:
        d["name"] = p["name"]
        d["id"] = p["id"]
        d["application"] = p["application"]
        d["statistics"] = {"bytes_used": 0, "percent_used": 0.0}
    return d


@route("GET", "/nodes/{node}/ceph/pool")
def pool_list(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    require_node(ctx, params["node"])
    _require_rados(ctx)
    return [_pool_api(p) for p in ctx.store.query("SELECT * FROM ceph_pools ORDER BY id")]


@route("GET", "/nodes/{node}/ceph/pool/{name}")
def pool_get(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    require_node(ctx, params["node"])
    _require_rados(ctx)
    p = ctx.store.one("SELECT * FROM ceph_pools WHERE name = ?", (p_req(params, "name"),))
    if p is None:
        raise ApiError(500, f"pool '{params['name']}' does not exist")
    return _pool_api(p, detail=True)


def _parse_size(raw: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGTP]?)i?B?", raw.strip(), re.IGNORECASE)
    if not m:
        raise param_error("target_size", f"value '{raw}' does not match the regex pattern")
    mult = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}[m.group(2).upper()]
    return int(float(m.group(1)) * mult)


def _pool_knobs(params: dict[str, Any], defaults: bool) -> dict[str, Any]:
    k: dict[str, Any] = {
        "size": p_int(params, "size", 3 if defaults else None, lo=1, hi=7),
        "min_size": p_int(params, "min_size", 2 if defaults else None, lo=1, hi=7),
        "pg_num": p_int(params, "pg_num", 128 if defaults else None, lo=1, hi=32768),
        "pg_num_min": p_int(params, "pg_num_min", lo=0, hi=32768),
        "pg_autoscale_mode": p_enum(params, "pg_autoscale_mode", AUTOSCALE, "warn" if defaults else None),
        "application": p_enum(params, "application", APPLICATIONS, "rbd" if defaults else None),
        "crush_rule": p_str(params, "crush_rule", "replicated_rule" if defaults else None),
        "target_size_ratio": None,
        "target_size": None,
    }
    ts = p_str(params, "target_size")
    if ts is not None:
        k["target_size"] = _parse_size(ts)
    ratio = p_str(params, "target_size_ratio")
    if ratio is not None:
        try:
            k["target_size_ratio"] = float(ratio)
        except ValueError:
            raise param_error("target_size_ratio", f"type check ('number') failed - got '{ratio}'") from None
    return k


def _check_sizes(size: int, min_size: int) -> None:
    if min_size > size:
        raise ApiError(500, f"pool min_size ({min_size}) must be between 1 and size ({size})")


def _rules(ctx: Ctx) -> list[str]:
    return ["replicated_rule", *sorted(ctx.store.get_meta("ceph_crush_rules", []) or [])]


@route("POST", "/nodes/{node}/ceph/pool")
def pool_create(ctx: Ctx, params: dict[str, Any]) -> str:
    """Pool.pm createpool: quorum and Ceph checks before the fork, the rest in the worker."""
    node = params["node"]
    require_node(ctx, node)
    name = p_req(params, "name")
    if not re.fullmatch(r"[^:/\s]+", name):
        raise param_error("name", "value does not match the regex pattern")
    knobs = _pool_knobs(params, True)
    ec = p_str(params, "erasure-coding")
    add_storages = p_bool(params, "add_storages", bool(ec))

    def work() -> str:
        _check_sizes(knobs["size"], knobs["min_size"])
        if knobs["crush_rule"] not in _rules(ctx):
            raise ApiError(500, f"crush_rule '{knobs['crush_rule']}' does not exist")
        if ctx.store.one("SELECT 1 FROM ceph_pools WHERE name = ?", (name,)):
            raise ApiError(500, f"pool '{name}' already exists")
        _insert_pool(ctx, name, knobs, "erasure" if ec else "replicated")
        if add_storages:
            _add_storage(ctx, Section("rbd", name, {"pool": name, "krbd": "0", "content": "rootdir,images"}))
        return f"pool {name}: applying size = {knobs['size']}\n"

    with ctx.store.tx():
        require_quorum(ctx)
        _require_rados(ctx)
        return worker(ctx, node, "cephcreatepool", name, work)


def _insert_pool(ctx: Ctx, name: str, knobs: dict[str, Any], ptype: str) -> None:
    pid = ctx.store.next_counter("ceph_pool_id") + 1  # pool 1 is '.mgr'
    ctx.store.exec(
        "INSERT INTO ceph_pools(id, name, size, min_size, pg_num, pg_num_min, pg_autoscale_mode, application, "
        "crush_rule, target_size, target_size_ratio, type) VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
        (pid, name, knobs["size"], knobs["min_size"], knobs["pg_num"], knobs["pg_num_min"],
         knobs["pg_autoscale_mode"], knobs["application"], knobs["crush_rule"], knobs["target_size"],
         knobs["target_size_ratio"], ptype),
    )


def _add_storage(ctx: Ctx, section: Section) -> None:
    sections = parse_sections(ctx.store.get_file(STORAGE), "storage")
    if any(s.id == section.id for s in sections):
        raise ApiError(500, f"create storage failed: storage ID '{section.id}' already defined")
    sections.append(section)
    ctx.store.put_file(STORAGE, write_sections(sections, "storage"))


@route("PUT", "/nodes/{node}/ceph/pool/{name}")
def pool_set(ctx: Ctx, params: dict[str, Any]) -> str:
    """Pool.pm setpool: everything but the Ceph check happens in the worker (set_pool)."""
    node = params["node"]
    require_node(ctx, node)
    name = p_req(params, "name")
    knobs = {k: v for k, v in _pool_knobs(params, False).items() if v is not None}

    def work() -> None:
        p = ctx.store.one("SELECT * FROM ceph_pools WHERE name = ?", (name,))
        if p is None:
            raise ApiError(500, f"pool '{name}' does not exist")
        _check_sizes(knobs.get("size", p["size"]), knobs.get("min_size", p["min_size"]))
        if "crush_rule" in knobs and knobs["crush_rule"] not in _rules(ctx):
            raise ApiError(500, f"crush_rule '{knobs['crush_rule']}' does not exist")
        for key, value in knobs.items():
            ctx.store.exec(f"UPDATE ceph_pools SET {key} = ? WHERE name = ?", (value, name))

    with ctx.store.tx():
        require_quorum(ctx)
        _require_rados(ctx)
        return worker(ctx, node, "cephsetpool", name, work)


@route("DELETE", "/nodes/{node}/ceph/pool/{name}")
def pool_destroy(ctx: Ctx, params: dict[str, Any]) -> str:
    """Pool.pm destroypool: the pool's users are checked, and it is removed, in the worker."""
    node = params["node"]
    require_node(ctx, node)
    name = p_req(params, "name")
    remove_storages = bool(p_bool(params, "remove_storages", False))
    p_bool(params, "force")

    def work() -> None:
        if ctx.store.one("SELECT 1 FROM ceph_pools WHERE name = ?", (name,)) is None:
            raise ApiError(500, f"pool '{name}' does not exist")
        for fs in ctx.store.query("SELECT * FROM ceph_fs"):
            if name in (fs["data_pool"], fs["metadata_pool"]):
                raise ApiError(500, f"pool '{name}' is in use by CephFS '{fs['name']}'")
        sections = parse_sections(ctx.store.get_file(STORAGE), "storage")
        users = [s for s in sections if s.type == "rbd" and s.props.get("pool", "rbd") == name
                 and "monhost" not in s.props]
        if users and not remove_storages:
            raise ApiError(500, f"pool '{name}' is in use by storage '{users[0].id}'")
        if users:
            ctx.store.put_file(STORAGE, write_sections([s for s in sections if s not in users], "storage"))
        ctx.store.exec("DELETE FROM ceph_pools WHERE name = ?", (name,))

    with ctx.store.tx():
        require_quorum(ctx)
        _require_rados(ctx)
        return worker(ctx, node, "cephdestroypool", name, work)


@route("GET", "/nodes/{node}/ceph/rules")
def crush_rules(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, str]]:
    require_node(ctx, params["node"])
    _require_rados(ctx)
    return [{"name": r} for r in _rules(ctx)]


# --- CephFS -----------------------------------------------------------------------------------


@route("GET", "/nodes/{node}/ceph/fs")
def fs_list(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, str]]:
    require_node(ctx, params["node"])
    _require_rados(ctx)
    return [{"name": f["name"], "metadata_pool": f["metadata_pool"], "data_pool": f["data_pool"]}
            for f in ctx.store.query("SELECT * FROM ceph_fs ORDER BY name")]


@route("POST", "/nodes/{node}/ceph/fs/{name}")
def fs_create(ctx: Ctx, params: dict[str, Any]) -> str:
    """FS.pm createfs: pools, name and a *standby* MDS are checked before the fork."""
    node = params["node"]
    require_node(ctx, node)
    name = p_str(params, "name", "cephfs") or "cephfs"
    pg_num = p_int(params, "pg_num", 128, lo=8, hi=32768) or 128
    add_storage = bool(p_bool(params, "add-storage", False))
    data, meta = f"{name}_data", f"{name}_metadata"

    def work() -> str:
        conf = _conf(ctx).get("global", {})
        base = {"size": int(conf.get("osd_pool_default_size", "3")),
                "min_size": int(conf.get("osd_pool_default_min_size", "2")), "pg_num_min": None,
                "pg_autoscale_mode": "on", "application": "cephfs", "crush_rule": "replicated_rule",
                "target_size": None, "target_size_ratio": None}
        _insert_pool(ctx, data, {**base, "pg_num": pg_num}, "replicated")
        _insert_pool(ctx, meta, {**base, "pg_num": max(pg_num // 4, 8)}, "replicated")
        ctx.store.exec("INSERT INTO ceph_fs(name, metadata_pool, data_pool) VALUES(?,?,?)", (name, meta, data))
        if add_storage:
            _add_storage(ctx, Section("cephfs", name, {"path": f"/mnt/pve/{name}", "content": "backup,iso,vztmpl",
                                                       "fs-name": name}))
        return (f"creating data pool '{data}'...\ncreating metadata pool '{meta}'...\n"
                f"configuring new CephFS '{name}'\nSuccessfully create CephFS '{name}'\n")

    with ctx.store.tx():
        require_quorum(ctx)
        _require_rados(ctx)
        if any(ctx.store.one("SELECT 1 FROM ceph_pools WHERE name = ?", (pool,)) for pool in (data, meta)):
            raise ApiError(500, f"ceph pools '{data}' and/or '{meta}' already exist")
        if ctx.store.one("SELECT 1 FROM ceph_fs WHERE name = ?", (name,)):
            raise ApiError(500, f"ceph fs '{name}' already exists")
        states = [m["state"] for m in mds_states(ctx)]
        if not [s for s in states if s.startswith("up:")]:
            raise ApiError(500, "no running Metadata Server (MDS) found!")
        if "up:standby" not in states:
            raise ApiError(500, "no standby Metadata Server (MDS) found!")
        return worker(ctx, node, "cephfscreate", name, work)


def fs_fail(ctx: Ctx, name: str) -> str:
    """Ceph's ``fs fail`` (``src/mon/FSCommands.cc`` FailHandler): mark the file system not
    joinable and fail its ranks, so no MDS serves it (the daemons become standbys) and
    ``fs rm`` is allowed. Ceph's own answer text; ENOENT for an unknown name."""
    with ctx.store.tx():
        if ctx.store.one("SELECT 1 FROM ceph_fs WHERE name = ?", (name,)) is None:
            raise ApiError(404, f"Not found: '{name}'")
        ctx.store.exec("UPDATE ceph_fs SET joinable = 0 WHERE name = ?", (name,))
    return f"{name} marked not joinable; MDS cannot join the cluster. All MDS ranks marked failed."


@route("DELETE", "/nodes/{node}/ceph/fs/{name}")
def fs_destroy(ctx: Ctx, params: dict[str, Any]) -> str:
    """FS.pm destroyfs: only the name is checked before the fork; Ceph's ``fs rm`` in the
    worker refuses while an MDS serves the file system (ceph ``src/mon/FSCommands.cc``)."""
    node = params["node"]
    require_node(ctx, node)
    name = p_req(params, "name")
    remove_pools = bool(p_bool(params, "remove-pools", False))
    remove_storages = bool(p_bool(params, "remove-storages", False))

    def work() -> None:
        if remove_storages:  # only pveceph-managed (no monhost) storages of this fs, all disabled first
            sections = parse_sections(ctx.store.get_file(STORAGE), "storage")
            users = [s for s in sections if s.type == "cephfs" and s.props.get("fs-name", "cephfs") == name]
            for s in users:
                if s.props.get("disable") != "1":
                    raise ApiError(500, f"storage '{s.id}' is not disabled, make sure to disable and unmount the "
                                   "storage first")
            managed = [s for s in users if "monhost" not in s.props]
            ctx.store.put_file(STORAGE, write_sections([s for s in sections if s not in managed], "storage"))
        if any(m.get("fs_name") == name and m["state"] == "up:active" for m in mds_states(ctx)):
            raise ApiError(500, "mon_command failed - all MDS daemons must be inactive/failed before removing "
                           "filesystem. See `ceph fs fail`.")
        row = ctx.store.one("SELECT * FROM ceph_fs WHERE name = ?", (name,))
        assert row is not None
        ctx.store.exec("DELETE FROM ceph_fs WHERE name = ?", (name,))
        if remove_pools:
            ctx.store.exec("DELETE FROM ceph_pools WHERE name IN (?, ?)", (row["data_pool"], row["metadata_pool"]))

    with ctx.store.tx():
        require_quorum(ctx)
        _require_rados(ctx)
        if ctx.store.one("SELECT 1 FROM ceph_fs WHERE name = ?", (name,)) is None:
            raise ApiError(500, f"no such cephfs '{name}'")
        return worker(ctx, node, "cephdestroyfs", name, work)
