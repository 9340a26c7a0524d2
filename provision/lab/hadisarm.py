"""The lab CRM's cluster-wide disarm (``ha-manager crm-command disarm-ha|arm-ha``, PVE 9).

pve-ha-manager 5.1.3 added a maintenance switch for the whole HA stack: ``disarm-ha
freeze|ignore`` makes the CRM stop its state machine, the LRMs release their agent locks
and watchdogs, and nothing is fenced or recovered until ``arm-ha``. The state lives in the
CRM's manager status (``disarm: {mode, state}``), so it survives a change of master and is
what ``/cluster/ha/status/*`` show. ``freeze`` pins every service in state ``freeze``;
``ignore`` keeps their states but suspends HA tracking (the API then treats them as not HA
managed, and ``arm-ha`` takes each one's node from where its guest is now).

Kept apart from ``hamanager`` so the round there reads as PVE's ``Manager::manage`` does:
commands, then ``handle_disarm``, which skips the rest of the round while disarmed.
Messages are those of ``src/PVE/HA/Manager.pm`` (docs/lab-contract.md, "HA disarm").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from provision.lab.store import Store

MODES = ("freeze", "ignore")
#: Service states the CRM lets finish before it disarms (``handle_disarm``).
TRANSIENT = ("fence", "recovery", "migrate", "relocate")
LOG_LINES = 500  # the lab keeps the CRM's most recent log lines (journal of pve-ha-crm)


def current(store: Store) -> dict[str, str] | None:
    """The manager status' ``disarm`` entry (``{"mode", "state"}``), None while armed."""
    value = store.get_meta("ha_disarm")
    return dict(value) if value else None


def log(store: Store, level: str, message: str, now: float | None = None) -> None:
    """A line of the CRM master's log (``$haenv->log``), read back through the node's syslog."""
    master = (store.get_meta("ha_master") or {}).get("node", "")
    lines: list[dict[str, Any]] = store.get_meta("crm_log", []) or []
    lines.append({"time": time.time() if now is None else now, "node": master, "level": level, "msg": message})
    store.set_meta("crm_log", lines[-LOG_LINES:])


def log_lines(store: Store, node: str) -> list[dict[str, Any]]:
    return [line for line in store.get_meta("crm_log", []) or [] if line["node"] == node]


def take_commands(store: Store, cmds: list[list[str]], rows: dict[str, dict[str, Any]],
                  guest_nodes: dict[str, str], now: float) -> dict[str, str] | None:
    """``Manager::update_crm_commands`` for ``disarm-ha MODE`` and ``arm-ha``, in queue order.

    A disarm while disarmed and an arm while armed are only logged (the API accepted them
    already). Arming after ``ignore`` takes each service's node from its guest, since it
    may have been moved by hand meanwhile. Returns the disarm state after the commands."""
    disarm = before = current(store)
    for cmd in cmds:
        if cmd[:1] == ["disarm-ha"] and len(cmd) == 2 and cmd[1] in MODES:
            if disarm is not None:
                log(store, "notice", f"ignoring disarm-ha command - already in disarm state ({disarm['state']})", now)
                continue
            log(store, "info", f"got crm command: disarm-ha {cmd[1]}", now)
            if cmd[1] == "ignore":
                for sid in sorted(rows):
                    log(store, "info", f"disarm: suspending HA tracking for service '{sid}'", now)
            disarm = {"mode": cmd[1], "state": "disarming"}
        elif cmd == ["arm-ha"]:
            if disarm is None:
                log(store, "notice", "ignoring arm-ha command - HA stack is not disarmed", now)
                continue
            log(store, "info", "got crm command: arm-ha", now)
            if disarm["mode"] == "ignore":
                for sid in sorted(rows):
                    node = guest_nodes.get(sid)
                    if node is not None and node != rows[sid]["node"]:
                        log(store, "info", f"service '{sid}': updating node '{rows[sid]['node']}' => '{node}' "
                                           "(changed while disarmed)", now)
                        rows[sid]["node"] = node
                        store.exec("UPDATE ha_services SET node = ? WHERE sid = ?", (node, sid))
            disarm = None
    if disarm != before:
        store.set_meta("ha_disarm", disarm)
    return disarm


def handle(store: Store, disarm: dict[str, str], rows: dict[str, dict[str, Any]], modes: dict[str, str],
           online: set[str], set_service: Callable[..., None], now: float) -> bool:
    """``Manager::handle_disarm``: True when the round ends here (disarm in force).

    While a service is being fenced, recovered or moved, the disarm waits (False: the
    round goes on). Then ``freeze`` freezes started and stopped services and both modes
    drop their pending targets; once every online LRM is in mode ``disarm`` the stack is
    ``disarmed`` and stays so (a node that comes back catches up). ``set_service`` is the
    CRM's own way to change a service's status (``hamanager._set_service``)."""
    deferred = [sid for sid, row in sorted(rows.items()) if row["state"] in TRANSIENT]
    if deferred:
        for sid in deferred:
            level = "warn" if rows[sid]["state"] in ("fence", "recovery") else "info"
            log(store, level, f"deferring disarm - service '{sid}' is in '{rows[sid]['state']}' state", now)
        return False
    for sid, row in sorted(rows.items()):
        if disarm["mode"] == "freeze" and row["state"] in ("started", "stopped"):
            log(store, "info", f"disarm: freezing service '{sid}' (was '{row['state']}')", now)
            set_service(store, rows, sid, state="freeze", target=None)
        elif row.get("target"):
            set_service(store, rows, sid, target=None)
    if disarm["state"] != "disarmed" and all(modes.get(n) == "disarm" for n in online):
        log(store, "info", "all LRMs disarmed, HA stack is now fully disarmed", now)
        disarm = {**disarm, "state": "disarmed"}
        store.set_meta("ha_disarm", disarm)
    return True


def ignored(store: Store) -> bool:
    """Whether HA tracking is suspended (``disarm-ha ignore``): ``HA::Config``'s
    ``service_is_ha_managed`` then answers no for every resource."""
    disarm = current(store)
    return disarm is not None and disarm["mode"] == "ignore"
