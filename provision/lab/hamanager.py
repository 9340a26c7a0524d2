"""The lab's HA cluster resource manager (CRM master + LRMs), one round at a time.

Real PVE runs a CRM master that every ~10 s reads the HA config and node states, fences
nodes that left the quorate partition while running services (watchdog ~60 s, then the
CRM waits for the dead node's agent lock, ~120 s), recovers their services elsewhere and
moves running services back to higher-priority nodes (failback). The lab runs the same
round inside the API server (asyncio background task), with all node choices delegated
to ``provision.crm.placement`` and all delays multiplied by ``--time-scale``.

Nothing moves unless the master sits in a quorate partition, as in PVE.
"""

from __future__ import annotations

import secrets
import time

from provision.crm import placement
from provision.crm.model import Service
from provision.lab import crmbridge, topology
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
            return crmbridge.service(resources[sid], node, int(g.get("memory_mb", 0)), int(g.get("cores", 0)))

        # Services that left the config, or are ignored, leave the manager status.
        for sid in list(rows):
            if sid not in resources or resources[sid].props.get("state") == "ignored":
                c.execute("DELETE FROM ha_services WHERE sid = ?", (sid,))
                del rows[sid]
        # New services enter on the node their guest is on.
        for sid, sec in resources.items():
            if sid in rows or sec.props.get("state") == "ignored" or sid not in guests:
                continue
            row = {"sid": sid, "node": guests[sid]["node"], "state": "stopped", "uid": _uid(), "since": now,
                   "target": None}
            c.execute("INSERT INTO ha_services(sid, node, state, uid, since, target) VALUES(?,?,?,?,?,?)",
                      (sid, row["node"], row["state"], row["uid"], now, None))
            rows[sid] = row

        # Node states: online / unknown -> fence (when it holds services) -> recovered.
        states = {r["name"]: dict(r) for r in store.query("SELECT * FROM ha_nodes")}
        for node in members:
            prev = states.get(node)
            if node in online:
                if prev is None or prev["state"] != "online":
                    _set_node(store, node, "online", now)
                    for sid, row in rows.items():
                        if row["node"] == node and row["state"] == "fence":
                            _set_service(store, rows, sid, state="stopped")
                continue
            if prev is None or prev["state"] == "online":
                victims = [sid for sid, r in rows.items()
                           if r["node"] == node and _recoverable(resources[sid].props.get("state", "started"))]
                _set_node(store, node, "fence" if victims else "unknown", now)
                for sid in victims:
                    _set_service(store, rows, sid, state="fence")

        # Fencing done once the dead node's lock expired: its guests are gone, services recover.
        delay = FENCE_SECONDS * scale
        fenced = [r["name"] for r in store.query("SELECT * FROM ha_nodes WHERE state = 'fence'")
                  if now - r["since"] >= delay]
        for node in fenced:
            _set_node(store, node, "unknown", now)
            c.execute("UPDATE guests SET status = 'stopped' WHERE node = ?", (node,))
            for sid, row in rows.items():
                if row["node"] == node and row["state"] == "fence":
                    _set_service(store, rows, sid, state="recovery")

        services = [as_service(sid, row["node"]) for sid, row in rows.items()]
        infos = crmbridge.node_infos(members, online, size)
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
                if row["target"] in online:
                    _move_guest(store, sid, row["target"], running=True)
                    _set_service(store, rows, sid, node=row["target"], state="started", target=None)
                else:
                    _set_service(store, rows, sid, state="started", target=None)

        # Requested states on online nodes (the LRM part).
        for sid, row in rows.items():
            if row["node"] not in online or row["state"] not in ("started", "stopped"):
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
        cmds: list[list[str]] = store.get_meta("crm_commands", []) or []
        store.set_meta("crm_commands", None)
        for kind, sid, target in cmds:
            current = rows.get(sid)
            if current is None or target not in online or current["node"] == target or current["state"] != "started":
                continue
            for moving in crmbridge.queue_resource_motion(config, rows, members, sid, target):
                if rows[moving]["state"] == "started" and rows[moving]["node"] != target:
                    _set_service(store, rows, moving, state=kind, target=target)
        services = [as_service(sid, row["node"]) for sid, row in rows.items()
                    if row["state"] in ("started", "stopped")]
        for move in placement.pending_moves(services, infos, config, crs):
            if rows[move.sid]["state"] == "started":
                kind = "migrate" if move.sid.startswith("vm:") else "relocate"
                _set_service(store, rows, move.sid, state=kind, target=move.target)


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
    store.exec("UPDATE ha_services SET node = ?, state = ?, uid = ?, since = ?, target = ? WHERE sid = ?",
               (row["node"], row["state"], row["uid"], row["since"], row["target"], sid))


def _vmid(sid: str) -> int:
    return int(sid.split(":", 1)[1])


def _move_guest(store: Store, sid: str, node: str, *, running: bool) -> None:
    store.exec("UPDATE guests SET node = ?, status = ? WHERE vmid = ?",
               (node, "running" if running else "stopped", _vmid(sid)))


def _set_guest_status(store: Store, sid: str, status: str) -> None:
    store.exec("UPDATE guests SET status = ? WHERE vmid = ?", (status, _vmid(sid)))
