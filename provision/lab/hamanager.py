"""The lab's HA cluster resource manager (CRM master + LRMs), one round at a time.

Real PVE runs a CRM master that every ~10 s reads the HA config and node states, fences
nodes that left the quorate partition while running services (watchdog ~60 s, then the
CRM waits for the dead node's agent lock, ~120 s), recovers their services elsewhere and
moves running services back to higher-priority nodes (failback). The lab runs the same
round inside the API server (asyncio background task), with all node choices delegated
to ``provision.crm.placement`` and all delays multiplied by ``--time-scale``.

Nothing moves unless the master sits in a quorate partition, as in PVE.

Node maintenance (``ha-manager crm-command node-maintenance``) follows pve-ha-manager's
three steps: the CRM records the request in its status (``node_request``), the node's LRM
picks it up and switches to ``maintenance`` mode, and the CRM then marks the node
``maintenance`` and moves its services away, remembering each one's ``maintenance_node``
so that they move back when the request is cleared (docs/lab-contract.md, "HA node
maintenance"). The lab runs the LRM's part inside the same round.

A disarmed HA stack (PVE 9, ``crm-command disarm-ha``: ``provision.lab.hadisarm``) ends
the round after the node states, as ``Manager::manage`` returns after ``handle_disarm``:
nothing is fenced, recovered, started, stopped or moved until ``arm-ha``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from typing import Any

from provision.crm import placement
from provision.crm.model import Service
from provision.crm.shutdown import DEFAULT_POLICY, FENCE_DELAY_SECONDS, shutdown_mode
from provision.lab import crmbridge, hadisarm, topology
from provision.lab.files import DATACENTER, HA_GROUPS, HA_RESOURCES, HA_RULES, parse_datacenter, parse_sections
from provision.lab.store import Store

ROUND_SECONDS = 10.0
FENCE_SECONDS = 60.0 + 120.0  # watchdog expiry, then the agent lock's lifetime


def _uid() -> str:
    return secrets.token_urlsafe(16)[:22]


def crm_round(store: Store, now: float | None = None) -> None:
    """One CRM round over the store: node states, fencing, recovery, requested states, failback."""
    now = time.time() if now is None else now
    with store.tx() as c:
        scale = float(store.get_meta("time_scale", 0.02))
        t = topology.load(store)
        if t.conf is None:
            return
        master = next((n for n in sorted(t.power) if t.is_member(n) and t.power[n] and t.quorate(n)), None)
        if master is None:
            return  # no quorate partition: no master, nothing moves
        store.set_meta("ha_master", {"node": master, "timestamp": now})
        members = sorted(n.name for n in t.conf.nodes)
        online = {n for n in members if t.sees(master, n)}
        cmds: list[list[str]] = store.get_meta("crm_commands", []) or []
        store.set_meta("crm_commands", None)
        prior = {r["name"]: str(r["state"]) for r in store.query("SELECT name, state FROM ha_nodes")}
        shutdowns: dict[str, dict[str, Any]] = store.get_meta("lrm_shutdown", {}) or {}
        before = hadisarm.current(store)  # what the LRMs read from the last manager status
        # The LRMs follow the node requests of the manager status the CRM wrote last round
        # (pve-ha-manager b71218f LRM.pm:196-224 reads `node_request` from the manager status
        # file; Manager.pm:689,708 change it in the CRM round): a request changed this round acts
        # next round, so a migrate and a maintenance disable queued together see the node
        # still in maintenance, as on PVE.
        seen: dict[str, dict[str, int]] = store.get_meta("ha_node_request", {}) or {}
        _node_requests(store, cmds, prior, before is not None)
        modes = lrm_modes(store, seen, online, shutdowns, before is not None)
        resources = {s.id: s for s in parse_sections(store.get_file(HA_RESOURCES), "resources")}
        config = crmbridge.ha_config(
            parse_sections(store.get_file(HA_GROUPS), "groups"), parse_sections(store.get_file(HA_RULES), "rules")
        )
        crs = crmbridge.crs_mode(parse_datacenter(store.get_file(DATACENTER)))
        rows = {r["sid"]: dict(r) for r in store.query("SELECT * FROM ha_services")}
        guests = {
            f"{'vm' if g['type'] == 'qemu' else 'ct'}:{g['vmid']}": dict(g)
            for g in store.query("SELECT vmid, type, node, status, memory_mb, cores FROM guests")
        }
        size = {r["name"]: (int(r["memory_mb"]), int(r["cores"]))
                for r in store.query("SELECT name, memory_mb, cores FROM nodes")}

        def as_service(sid: str, node: str) -> Service:
            g = guests.get(sid, {})
            svc = crmbridge.service(resources[sid], node, int(g.get("memory_mb", 0)), int(g.get("cores", 0)))
            fallback = rows[sid].get("maintenance_node") if sid in rows else None
            return replace(svc, maintenance_node=str(fallback)) if fallback else svc

        # Services that left the config, or are ignored, leave the manager status
        # (not while disarmed: Manager.pm leaves the service status to handle_disarm).
        for sid in list(rows):
            if before is None and (sid not in resources or resources[sid].props.get("state") == "ignored"):
                c.execute("DELETE FROM ha_services WHERE sid = ?", (sid,))
                del rows[sid]
        # New services enter on the node their guest is on.
        for sid, sec in resources.items():
            if before is not None or sid in rows or sec.props.get("state") == "ignored" or sid not in guests:
                continue
            row = {"sid": sid, "node": guests[sid]["node"], "state": "stopped", "uid": _uid(), "since": now,
                   "target": None}
            c.execute("INSERT INTO ha_services(sid, node, state, uid, since, target) VALUES(?,?,?,?,?,?)",
                      (sid, row["node"], row["state"], row["uid"], now, None))
            rows[sid] = row

        disarm = hadisarm.take_commands(store, cmds, rows, {sid: str(g["node"]) for sid, g in guests.items()}, now)
        # Node states: online / unknown -> fence (when it holds services) -> recovered.
        # Disarmed, a node that left only becomes unknown: no fencing (the FSM does not run).
        states = {r["name"]: dict(r) for r in store.query("SELECT * FROM ha_nodes")}
        for node in members:
            prev = states.get(node)
            maintenance = modes.get(node) == "maintenance"
            if node in online:
                if prev is None or prev["state"] not in ("online", "maintenance"):
                    _set_node(store, node, "online", now)
                    for sid, row in rows.items():
                        if row["node"] == node and row["state"] == "fence":
                            _set_service(store, rows, sid, state="stopped")
                elif (prev["state"] == "maintenance") != maintenance:  # NodeStatus::update
                    _set_node(store, node, "maintenance" if maintenance else "online", now)
                continue
            if prev is not None and prev["state"] == "maintenance" and maintenance:
                continue  # left in maintenance (migrate policy): not fenced
            if prev is None or prev["state"] in ("online", "maintenance", "unknown"):
                # frozen services wait for their node (Manager.pm never fences 'freeze'); a
                # node that went down while disarmed is fenced once armed (next_state_started)
                victims = [] if disarm is not None else [
                    sid for sid, r in rows.items() if r["node"] == node and r["state"] != "freeze"
                    and sid in resources and _recoverable(resources[sid].props.get("state", "started"))]
                if victims or prev is None or prev["state"] != "unknown":
                    _set_node(store, node, "fence" if victims else "unknown", now)
                for sid in victims:
                    _set_service(store, rows, sid, state="fence")

        if disarm is not None and hadisarm.handle(store, disarm, rows, modes, online, _set_service, now):
            _lrm_exits(store, rows, shutdowns, online)
            return
        # Fencing done once the dead node's lock expired: its guests are gone, services recover.
        # A node its LRM left cleanly (failover) released its lock: only the offline delay.
        clean = {n for n, req in shutdowns.items() if req.get("exited") and req.get("mode") == "shutdown"}
        fenced = [r["name"] for r in store.query("SELECT * FROM ha_nodes WHERE state = 'fence'")
                  if now - r["since"] >= (FENCE_DELAY_SECONDS if r["name"] in clean else FENCE_SECONDS) * scale]
        for node in fenced:
            _set_node(store, node, "unknown", now)
            c.execute("UPDATE guests SET status = 'stopped' WHERE node = ?", (node,))
            for sid, row in rows.items():
                if row["node"] == node and row["state"] == "fence":
                    _set_service(store, rows, sid, state="recovery")

        services = [as_service(sid, row["node"]) for sid, row in rows.items()]
        in_maintenance = {r["name"] for r in store.query("SELECT name FROM ha_nodes WHERE state = 'maintenance'")}
        infos = crmbridge.node_infos(members, online, size, in_maintenance)
        schedulable = online - in_maintenance
        to_recover = [s for s in services if rows[s.sid]["state"] == "recovery"]
        if to_recover:
            # The CRM's state says which services are in recovery (their fencing finished);
            # services still being fenced are not placed yet, the others load their nodes.
            result = placement.recover(services, infos, config, crs, in_recovery=[s.sid for s in to_recover])
            chosen: dict[str, str] = {r.sid: r.new_node for r in result.recoveries if r.new_node is not None}
            for sid, new_node in sorted(chosen.items()):
                if rows[sid]["state"] != "recovery":
                    continue
                want = resources[sid].props.get("state", "started")
                _move_guest(store, sid, new_node, running=want in ("started", "enabled"))
                _set_service(store, rows, sid, node=new_node,
                             state="started" if want in ("started", "enabled") else "stopped")

        # Finish migrations started last round.
        for sid, row in rows.items():
            if row["state"] in ("migrate", "relocate") and row["target"]:
                if row["target"] in schedulable:
                    _move_guest(store, sid, row["target"], running=True)
                    _set_service(store, rows, sid, node=row["target"], state="started", target=None)
                else:
                    _set_service(store, rows, sid, state="started", target=None)

        _freeze(store, rows, modes, online, resources)
        # Requested states on online nodes (the LRM part; an LRM shutting down manages nothing).
        for sid, row in rows.items():
            if row["node"] not in online or row["state"] not in ("started", "stopped") \
                    or modes.get(str(row["node"])) in ("shutdown", "restart"):
                continue
            want = resources[sid].props.get("state", "started")
            if want in ("started", "enabled"):
                if row["state"] != "started" or guests.get(sid, {}).get("status") != "running":
                    _set_guest_status(store, sid, "running")
                    _set_service(store, rows, sid, state="started")
            elif row["state"] != "stopped" or guests.get(sid, {}).get("status") != "stopped":
                _set_guest_status(store, sid, "stopped")
                _set_service(store, rows, sid, state="stopped")

        # Admin requests (ha-manager migrate/relocate), then the CRM's own moves (failback).
        for cmd in cmds:
            if len(cmd) != 3:
                continue  # node-maintenance requests were taken above
            kind, sid, target = cmd
            current = rows.get(sid)
            if current is None or target not in schedulable or current["node"] == target \
                    or current["state"] != "started":
                continue
            for moving in crmbridge.queue_resource_motion(config, rows, members, sid, target):
                if rows[moving]["state"] == "started" and rows[moving]["node"] != target:
                    _set_service(store, rows, moving, state=kind, target=target)
        for sid, row in rows.items():
            # Manager.pm next_state_started: a fallback that is the service's own node again
            # on an online node is stale (the cluster went down in maintenance) and is dropped.
            if row.get("maintenance_node") == row["node"] and row["node"] in schedulable:
                _set_service(store, rows, sid, maintenance_node=None)
        services = [as_service(sid, row["node"]) for sid, row in rows.items()
                    if row["state"] in ("started", "stopped")]
        for move in placement.pending_moves(services, infos, config, crs):
            if rows[move.sid]["state"] == "started":
                kind = "migrate" if move.sid.startswith("vm:") else "relocate"
                _set_service(store, rows, move.sid, state=kind, target=move.target,
                             maintenance_node=move.maintenance_node)
        _lrm_exits(store, rows, shutdowns, online)


def queue_crm_command(store: Store, words: list[str]) -> None:
    """Append to the CRM's command queue (``HA::Config::queue_crm_commands``, the file
    ``/etc/pve/ha/crm_commands``), which the master reads and empties every round."""
    with store.tx():
        cmds: list[list[str]] = store.get_meta("crm_commands", []) or []
        cmds.append(words)
        store.set_meta("crm_commands", cmds)


def _node_requests(store: Store, cmds: list[list[str]], states: dict[str, str],
                   disarmed: bool) -> dict[str, dict[str, int]]:
    """``Manager::update_crm_commands`` for node maintenance: enabling is recorded only for
    an ``online`` node (one in maintenance is left alone, others are an error in PVE's log)
    and never while HA is disarmed; disabling always clears the request. Kept in the CRM
    status across master changes."""
    requests: dict[str, dict[str, int]] = store.get_meta("ha_node_request", {}) or {}
    for cmd in cmds:
        if len(cmd) != 2:
            continue
        verb, node = cmd
        if verb == "enable-node-maintenance" and disarmed:
            hadisarm.log(store, "warn", f"ignoring maintenance command for node {node} - HA stack is disarmed")
        elif verb == "enable-node-maintenance" and states.get(node) == "online":
            requests.setdefault(node, {})["maintenance"] = 1
        elif verb == "disable-node-maintenance":
            requests.get(node, {}).pop("maintenance", None)
    requests = {n: r for n, r in requests.items() if r}
    store.set_meta("ha_node_request", requests or None)
    return requests


def lrm_modes(store: Store, requests: dict[str, dict[str, int]], online: set[str],
              shutdowns: dict[str, dict[str, Any]], disarmed: bool = False) -> dict[str, str]:
    """Each LRM's mode (``LRM::update_service_status``, ``shutdown_request``): a running LRM
    that is shutting down keeps its shutdown mode; otherwise it follows the CRM's maintenance
    request, then a disarm. A node that is not running keeps the mode it last wrote to its
    ``lrm_status``, which is what the CRM reads."""
    known: dict[str, str] = store.get_meta("lrm_modes", {}) or {}
    modes = dict(known)
    for node in online:
        if node in shutdowns:
            modes[node] = str(shutdowns[node]["mode"])
        elif requests.get(node, {}).get("maintenance"):
            modes[node] = "maintenance"
        elif disarmed:
            modes[node] = "disarm"
        elif modes.get(node, "active") != "active":
            modes[node] = "active"
    if modes != known:  # an unchanged round writes nothing (CrmSchedule sees it idle)
        store.set_meta("lrm_modes", modes or None)
    return modes


def request_shutdown(store: Store, node: str, reboot: bool) -> tuple[str, str]:
    """The node's LRM gets a shutdown request (``LRM::shutdown_request``): its mode follows
    ``datacenter.cfg`` ``ha: shutdown_policy`` (``provision.crm.shutdown_mode``), except that
    a node in manual maintenance stays in maintenance. Returns ``(policy, mode)``."""
    with store.tx():
        ha = parse_datacenter(store.get_file(DATACENTER)).get("ha")
        policy = str(ha.get("shutdown_policy", DEFAULT_POLICY)) if isinstance(ha, dict) else DEFAULT_POLICY
        mode: str = shutdown_mode(policy, reboot)
        if (store.get_meta("lrm_modes", {}) or {}).get(node) == "maintenance":
            mode = "maintenance"  # "ignore <policy> policy as manual maintenance mode is enabled"
        shutdowns: dict[str, dict[str, Any]] = store.get_meta("lrm_shutdown", {}) or {}
        shutdowns[node] = {"mode": mode, "reboot": reboot, "exited": False}
        store.set_meta("lrm_shutdown", shutdowns)
    return policy, mode


def lrm_exited(store: Store, node: str) -> bool:
    """Whether the node's LRM finished its shutdown (the node may now power off)."""
    return bool(((store.get_meta("lrm_shutdown", {}) or {}).get(node) or {}).get("exited"))


def clear_shutdown(store: Store, node: str) -> None:
    """The node booted: a fresh LRM starts in mode ``active`` (or maintenance, if requested)."""
    with store.tx():
        shutdowns: dict[str, dict[str, Any]] = store.get_meta("lrm_shutdown", {}) or {}
        if shutdowns.pop(node, None) is not None:
            store.set_meta("lrm_shutdown", shutdowns or None)


def _freeze(store: Store, rows: dict[str, dict[str, Any]], modes: dict[str, str], online: set[str],
            resources: dict[str, Any]) -> None:
    """Manager.pm: services of a node whose LRM is in ``restart`` mode are frozen (the LRM
    stops them); a frozen service whose node's LRM is ``active`` again is unfrozen."""
    for sid, row in rows.items():
        mode = modes.get(str(row["node"]), "active")
        if mode == "restart" and row["state"] in ("started", "stopped"):
            _set_guest_status(store, sid, "stopped")
            _set_service(store, rows, sid, state="freeze")
        elif row["state"] == "freeze" and mode == "active" and row["node"] in online:
            want = resources[sid].props.get("state", "started")
            _set_service(store, rows, sid, state="started" if want in ("started", "enabled") else "stopped")


def _lrm_exits(store: Store, rows: dict[str, dict[str, Any]], shutdowns: dict[str, dict[str, Any]],
               online: set[str]) -> None:
    """``LRM::work``: a shutting-down LRM exits once nothing active is left on its node;
    in ``shutdown`` mode (failover) it first stops every service itself, while the CRM
    still sees them ``started``."""
    changed = False
    for node, req in shutdowns.items():
        if req.get("exited") or node not in online:
            continue
        mine = [sid for sid, r in rows.items() if r["node"] == node]
        if req["mode"] == "shutdown":
            for sid in mine:
                _set_guest_status(store, sid, "stopped")
            busy = []
        elif req["mode"] == "restart":
            busy = [sid for sid in mine if rows[sid]["state"] not in ("stopped", "freeze", "error")]
        else:  # maintenance: every running service migrated away
            busy = [sid for sid in mine if rows[sid]["state"] in ("started", "migrate", "relocate")]
        if not busy:
            req["exited"] = True
            changed = True
    if changed:
        store.set_meta("lrm_shutdown", shutdowns)


def _recoverable(request: str) -> bool:
    return request in ("started", "enabled", "stopped")


def _set_node(store: Store, node: str, state: str, now: float) -> None:
    store.exec(
        "INSERT INTO ha_nodes(name, state, since) VALUES(?,?,?) "
        "ON CONFLICT(name) DO UPDATE SET state = excluded.state, since = excluded.since",
        (node, state, now),
    )


def _set_service(store: Store, rows: dict[str, dict[str, object]], sid: str, **changes: object) -> None:
    row = rows[sid]
    if "state" in changes and changes["state"] != row["state"]:
        changes["uid"] = _uid()
        changes["since"] = time.time()
    row.update(changes)
    store.exec("UPDATE ha_services SET node = ?, state = ?, uid = ?, since = ?, target = ?, maintenance_node = ? "
               "WHERE sid = ?",
               (row["node"], row["state"], row["uid"], row["since"], row["target"], row.get("maintenance_node"), sid))


def _vmid(sid: str) -> int:
    return int(sid.split(":", 1)[1])


def _move_guest(store: Store, sid: str, node: str, *, running: bool) -> None:
    store.exec("UPDATE guests SET node = ?, status = ? WHERE vmid = ?",
               (node, "running" if running else "stopped", _vmid(sid)))


def _set_guest_status(store: Store, sid: str, status: str) -> None:
    store.exec("UPDATE guests SET status = ? WHERE vmid = ?", (status, _vmid(sid)))


def waiting_on_time(store: Store) -> bool:
    """Whether a round may change something with no write in between, by time alone: a
    node is being fenced until its delay runs out. (The lab's CRM skips rounds that
    cannot change anything: ``provision.lab.server.CrmSchedule``.)"""
    return store.one("SELECT 1 FROM ha_nodes WHERE state = 'fence' LIMIT 1") is not None
