"""Corosync cluster membership: create, join/addnode, delnode, expected votes, QDevice.

Every change rewrites the whole corosync.conf with ``config_version`` bumped, as PVE does,
under the store's write lock (PVE takes a cluster-wide lock on corosync.conf for this).
Messages follow pve-cluster's ``ClusterConfig.pm``/``Setup.pm``.
"""

from __future__ import annotations

import re
from typing import Any

from provision.lab import tokens
from provision.lab.files import COROSYNC, parse_corosync, write_corosync
from provision.lab.formats.corosync import ClusterConf, CorosyncError
from provision.lab.ops import qdevice_prep
from provision.lab.ops.common import as_node, require_quorum, task, topo
from provision.lab.registry import ApiError, Ctx, p_bool, p_int, p_req, p_str, param_error, route

MAX_LINKS = 8
JOIN_API_VERSION = 1


def read_conf(ctx: Ctx) -> ClusterConf | None:
    text = ctx.store.get_file(COROSYNC)
    return parse_corosync(text) if text else None


def save_conf(ctx: Ctx, conf: ClusterConf) -> None:
    """Write corosync.conf and drop a runtime ``pvecm expected`` override (corosync reload).

    ``ClusterConf``'s edit methods already bumped ``config_version``, as PVE does per change.
    """
    ctx.store.put_file(COROSYNC, write_corosync(conf))
    ctx.store.set_meta("expected_votes", None)


def parse_links(params: dict[str, Any]) -> dict[int, tuple[str, int | None]]:
    """``linkN`` = ``[address=]<IP>[,priority=<0-255>]`` -> {N: (address, priority)}."""
    links: dict[int, tuple[str, int | None]] = {}
    for n in range(MAX_LINKS):
        raw = p_str(params, f"link{n}")
        if raw is None:
            continue
        addr: str | None = None
        prio: int | None = None
        for part in raw.split(","):
            key, eq, value = part.partition("=")
            if not eq:
                key, value = "address", key
            if key == "address":
                addr = value
            elif key == "priority":
                if not value.isdigit() or int(value) > 255:
                    raise param_error(f"link{n}", "invalid format - priority: value must be 0-255")
                prio = int(value)
            else:
                raise param_error(f"link{n}", f"invalid format - property '{key}' not allowed")
        if not addr:
            raise param_error(f"link{n}", "invalid format - missing address")
        links[n] = (addr, prio)
    return links


@route("POST", "/cluster/config")
def create(ctx: Ctx, params: dict[str, Any]) -> str:
    name = p_req(params, "clustername")
    if len(name) > 15:
        raise param_error("clustername", "value may only be 15 characters long")
    if not re.fullmatch(r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?", name):
        raise param_error("clustername", f"value does not match the regex pattern (invalid node name '{name}')")
    nodeid = p_int(params, "nodeid", 1, lo=1)
    votes = p_int(params, "votes", 1, lo=1)
    coeff = p_int(params, "token-coefficient", lo=0)
    links = parse_links(params)
    with ctx.store.tx():
        if ctx.store.get_file(COROSYNC) is not None:
            raise ApiError(500, "cluster config '/etc/pve/corosync.conf' already exists")
        if not links:
            links = {0: (_node_ip(ctx, ctx.node), None)}
        assert nodeid is not None and votes is not None
        conf = ClusterConf.create(name, ctx.node, links, nodeid=nodeid, votes=votes, token_coefficient=coeff)
        save_conf(ctx, conf)
        ctx.store.put_file("priv/authkey.pub", f"lab-corosync-authkey {name}\n")
        tokens.cluster_created(ctx.store, ctx.node)  # this node's /etc/pve is the cluster's now
        log = "Writing corosync config to /etc/pve/corosync.conf\nRestart corosync and cluster filesystem\n"
        return task(ctx, ctx.node, "clustercreate", name, log)


def _node_ip(ctx: Ctx, node: str) -> str:
    row = ctx.store.one("SELECT ip FROM nodes WHERE name = ?", (node,))
    return str(row["ip"]) if row else ""


@route("POST", "/cluster/config/nodes/{node}")
def addnode(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """Internal addnode, run on an existing member on behalf of the joining node."""
    name = p_req(params, "node")
    nodeid = p_int(params, "nodeid", lo=1)
    votes = p_int(params, "votes", lo=0)
    force = bool(p_bool(params, "force", False))
    new_ip = p_str(params, "new_node_ip")
    links = parse_links(params)
    with ctx.store.tx():
        require_quorum(ctx)
        conf = read_conf(ctx)
        if conf is None:
            raise ApiError(500, "unable to read file '/etc/pve/corosync.conf'")
        addrs: dict[int, str] = {n: a for n, (a, _) in links.items()}
        if not addrs:
            if not new_ip:
                raise ApiError(500, "no links and no fallback ip (new_node_ip) given, cannot join cluster")
            have = conf.cluster_links()
            if len(have) != 1:
                raise ApiError(
                    500, "no links given but multiple links found on other nodes, fallback only supported on "
                    "single-link clusters"
                )
            addrs = {next(iter(have)): new_ip}
        try:
            conf.add_node(name, addrs, nodeid=nodeid, votes=votes, force=force)
        except CorosyncError as exc:
            raise ApiError(500, str(exc)) from None
        save_conf(ctx, conf)
        text = ctx.store.get_file(COROSYNC) or ""
        return {"corosync_authkey": "lab-corosync-authkey\n", "corosync_conf": text, "warnings": []}


@route("DELETE", "/cluster/config/nodes/{node}")
def delnode(ctx: Ctx, params: dict[str, Any]) -> None:
    target = p_req(params, "node")
    if target == ctx.node:
        raise ApiError(500, "Cannot delete myself from cluster!")
    with ctx.store.tx():
        require_quorum(ctx)
        conf = read_conf(ctx)
        if conf is None:
            raise ApiError(500, f"Node/IP: {target} is not a known host of the cluster.")
        try:
            found = conf.remove_node(target)
        except CorosyncError as exc:
            raise ApiError(500, str(exc)) from None
        save_conf(ctx, conf)
        ctx.store.exec("DELETE FROM ha_nodes WHERE name = ?", (found.name,))
        # The removed node keeps its own corosync.conf and pmxcfs database: delnode edits
        # only the remaining nodes' nodelist and sends `corosync-cfgtool -k` (ClusterConfig.pm
        # delnode). Powered on, now or later, it stands alone in the old cluster, without quorum.
        evicted = dict(ctx.store.get_meta("evicted", {}) or {})
        evicted[found.name] = {"name": conf.cluster_name, "version": conf.config_version - 1}
        ctx.store.set_meta("evicted", evicted)
    return None


def _resolve_peer(ctx: Ctx, host: str) -> str:
    row = ctx.store.one("SELECT name FROM nodes WHERE name = ? OR ip = ?", (host, host))
    if row is not None:
        return str(row["name"])
    conf = read_conf(ctx)
    for n in conf.nodes if conf else []:
        if host in n.addrs.values():
            return n.name
    raise ApiError(500, f"unable to connect to '{host}' - No route to host")


def join(ctx: Ctx, params: dict[str, Any], *, check_fingerprint: bool = True) -> str:
    """Join ``ctx.node`` into the cluster of ``hostname`` (API join, or ``pvecm add``)."""
    host = p_req(params, "hostname")
    t = topo(ctx)
    if t.is_member(ctx.node):
        raise ApiError(500, "detected the following error(s):\n* this host already contains a cluster "
                       "configuration\n* corosync is already running, is this node already in a cluster?!")
    peer = _resolve_peer(ctx, host)
    if not t.is_member(peer) or not t.power.get(peer):
        raise ApiError(500, f"unable to connect to '{host}' - No route to host")
    if check_fingerprint:
        fp = p_req(params, "fingerprint")
        p_req(params, "password")
        if fp.upper() != str(ctx.store.get_meta("fingerprint", "")).upper():
            raise ApiError(500, f"Certificate fingerprint mismatch - expected {ctx.store.get_meta('fingerprint')}")
    add_params = {k: v for k, v in params.items() if re.fullmatch(r"link\d|nodeid|votes|force", k)}
    add_params["node"] = ctx.node
    add_params["new_node_ip"] = _node_ip(ctx, ctx.node)
    add_params["apiversion"] = JOIN_API_VERSION
    with ctx.store.tx():
        addnode(as_node(ctx, peer), add_params)
        tokens.node_joined(ctx.store, ctx.node)  # finish_join: the node's own /etc/pve is replaced
        log = (
            f"Establishing API connection with host '{host}'\nLogin succeeded.\n"
            f"Request addition of this node\nJoin request OK, finishing setup locally\n"
            "stopping pve-cluster service\nbackup old database to '/var/lib/pve-cluster/backup/config.sql.gz'\n"
            "waiting for quorum...OK\nsuccessfully added node '" + ctx.node + "' to cluster.\n"
        )
        return task(ctx, ctx.node, "clusterjoin", "", log)


@route("POST", "/cluster/config/join")
def join_api(ctx: Ctx, params: dict[str, Any]) -> str:
    return join(ctx, params)


@route("GET", "/cluster/config")
def index(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, str]]:
    return [{"name": n} for n in ("nodes", "totem", "join", "qdevice", "apiversion")]


@route("GET", "/cluster/config/apiversion")
def apiversion(ctx: Ctx, params: dict[str, Any]) -> int:
    return JOIN_API_VERSION


@route("GET", "/cluster/config/nodes")
def nodes(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, str]]:
    conf = read_conf(ctx)
    if conf is None:
        return []
    return [n.to_api() for n in conf.nodes]


@route("GET", "/cluster/config/totem")
def totem(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any] | None:
    conf = read_conf(ctx)
    return conf.totem_api() if conf else None


@route("GET", "/cluster/config/join")
def join_info(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = p_str(params, "node", ctx.node)
    conf = read_conf(ctx)
    if conf is None:
        raise ApiError(424, "node is not in a cluster, no join info available!")
    if conf.node(str(name)) is None:
        raise ApiError(500, f"unknown node '{name}'")
    fp = str(ctx.store.get_meta("fingerprint", ""))
    items = [{**n.to_dict(), "pve_addr": _node_ip(ctx, n.name), "pve_fp": fp} for n in conf.nodes]
    text = ctx.store.get_file(COROSYNC) or ""
    import hashlib

    return {
        "nodelist": items,
        "preferred_node": name,
        "totem": conf.totem_api(),
        "config_digest": hashlib.sha1(text.encode()).hexdigest(),
    }


def qdevice_daemon_running(ctx: Ctx, node: str) -> bool:
    """Whether corosync-qdevice runs on ``node`` (``systemctl stop corosync-qdevice`` stops it)."""
    return node not in (ctx.store.get_meta("qdevice_stopped", []) or [])


def set_qdevice_daemon(ctx: Ctx, node: str, running: bool) -> None:
    with ctx.store.tx():
        stopped = set(ctx.store.get_meta("qdevice_stopped", []) or [])
        stopped = stopped - {node} if running else stopped | {node}
        ctx.store.set_meta("qdevice_stopped", sorted(stopped) or None)


@route("GET", "/cluster/config/qdevice")
def qdevice_status(ctx: Ctx, params: dict[str, Any]) -> dict[str, str]:
    """The answering node's corosync-qdevice daemon, asked over its socket: ``{}`` when the
    daemon does not run, whatever corosync.conf says (pve-cluster ``ClusterConfig.pm``
    ``status`` of ``qdevice``)."""
    conf = read_conf(ctx)
    if conf is None or conf.qdevice is None or not conf.node(ctx.node) or not qdevice_daemon_running(ctx, ctx.node):
        return {}
    q = conf.qdevice
    up = bool(ctx.store.get_meta("qnetd_up", True))
    return {
        "Algorithm": "Fifty-Fifty split" if q.algorithm == "ffsplit" else "LMS",
        "Echo reply": "1ms" if up else "Not connected",
        "Last poll call": "2026-01-01 00:00:00",
        "Model": "Net",
        "QNetd host": f"{q.host}:5403",
        "State": "Connected" if up else "Connect failed",
        "Tie-breaker": "Node with lowest node ID",
    }


# --- CLI-only operations (pvecm) --------------------------------------------------------------


def set_expected(ctx: Ctx, votes: int) -> None:
    """``pvecm expected``: a runtime override, not written to corosync.conf."""
    with ctx.store.tx():
        if read_conf(ctx) is None:
            raise ApiError(500, "Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a "
                           "cluster?")
        if votes < 1:
            raise ApiError(400, "expected votes must be at least 1")
        ctx.store.set_meta("expected_votes", votes)


def qdevice_setup(ctx: Ctx, host: str, force: bool) -> None:
    with ctx.store.tx():
        conf = read_conf(ctx)
        if conf is None:
            raise ApiError(500, "node is not in a cluster")
        t = topo(ctx)
        offline = sorted(n.name for n in conf.nodes if not t.sees(ctx.node, n.name))
        if offline:  # pvecm.pm checks the members before anything else
            raise ApiError(500, f"All nodes must be online! Node {offline[0]} is offline, aborting.")
        require_quorum(ctx)
        try:
            conf.setup_qdevice(host, force=force)
        except CorosyncError as exc:
            msg = str(exc)
            if "odd node count" in msg:
                msg += "\nUse --force to override."
            raise ApiError(500, msg) from None
        qdevice_prep.require_ready(ctx, host, conf.cluster_name, {n.name: _node_ip(ctx, n.name) for n in conf.nodes})
        save_conf(ctx, conf)
        ctx.store.set_meta("qnetd_up", True)


def qdevice_remove(ctx: Ctx) -> None:
    with ctx.store.tx():
        require_quorum(ctx)
        conf = read_conf(ctx)
        if conf is None:
            raise ApiError(500, "No QDevice configured!")
        try:
            conf.remove_qdevice()
        except CorosyncError as exc:
            raise ApiError(500, str(exc)) from None
        save_conf(ctx, conf)
