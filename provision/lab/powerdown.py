"""A node's clean shutdown or reboot requested through the API (`POST /nodes/{node}/status`).

pve-manager `PVE/API2/Nodes.pm` node_cmd answers first and runs `(sleep 2;/sbin/poweroff)&`
or `/sbin/reboot` in the background; on the way down systemd stops pve-ha-lrm, whose
`shutdown_request` (pve-ha-manager `src/PVE/HA/LRM.pm`) picks its mode from datacenter.cfg
`ha: shutdown_policy` and holds the shutdown until its services are stopped, frozen or
migrated away (`provision.lab.hamanager.request_shutdown`). The lab does the same without
a process that outlives the call: the request is recorded in the store, and the CRM's
schedule (`provision.lab.server.CrmSchedule`) completes it once the node's LRM has exited:
the node powers off, and a reboot powers it on again `REBOOT_SECONDS` (simulated) later.
`provision lab shutdown|reboot` (`provision.lab.lifecycle.node_down_cleanly`) is the same
path driven from the lab's command line.
"""

from __future__ import annotations

import time
from typing import Any

from provision.lab import hamanager
from provision.lab.files import COROSYNC
from provision.lab.store import Store

META = "power_requests"
REBOOT_SECONDS = 60.0
"""How long a rebooted node stays down, in simulated seconds (a server's POST and boot)."""


def set_power(store: Store, node: str, on: bool) -> None:
    """Power `node` on (a fresh LRM, guests stay stopped) or off (its guests stop), inside
    the caller's transaction."""
    store.exec("UPDATE nodes SET power = ?, boot_time = ? WHERE name = ?", (int(on), time.time(), node))
    if on:
        hamanager.clear_shutdown(store, node)
    else:
        store.exec("UPDATE guests SET status = 'stopped' WHERE node = ?", (node,))  # pve-guests stops the rest


def request(store: Store, node: str, reboot: bool) -> None:
    """Record the request; a node outside a cluster has no HA agent and goes down at once."""
    if store.get_file(COROSYNC) is None:
        with store.tx():
            set_power(store, node, False)
            if reboot:
                set_power(store, node, True)
        return
    hamanager.request_shutdown(store, node, reboot)
    with store.tx():
        pending: dict[str, dict[str, Any]] = store.get_meta(META, {}) or {}
        pending[node] = {"reboot": reboot, "up_at": None}
        store.set_meta(META, pending)


def pending(store: Store) -> bool:
    return bool(store.get_meta(META, {}))


def complete(store: Store, now: float | None = None) -> None:
    """Power off each requested node whose LRM is done; power a rebooted one on again once
    its down time has passed."""
    now = time.time() if now is None else now
    with store.tx():
        requests: dict[str, dict[str, Any]] = store.get_meta(META, {}) or {}
        if not requests:
            return
        scale = float(store.get_meta("time_scale", 0.02))
        for node, req in list(requests.items()):
            if req["up_at"] is None:
                if not hamanager.lrm_exited(store, node):
                    continue
                set_power(store, node, False)
                if not req["reboot"]:
                    del requests[node]
                    continue
                req["up_at"] = now + REBOOT_SECONDS * scale
            if now >= float(req["up_at"]):
                set_power(store, node, True)
                del requests[node]
        store.set_meta(META, requests or None)
