"""``POST /cluster/ha/status/disarm-ha|arm-ha`` (PVE 9) and the node's syslog of the CRM.

Both calls only queue a CRM command (``HA::Config::queue_crm_commands``, a write to
``/etc/pve/ha/crm_commands``, so they need quorum) and return null: whether the stack
was already disarmed, and when it is fully disarmed, shows only in the manager status and
the CRM's log. PVE 8 (pve-ha-manager 4.x) has neither path: pve-manager's HTTP server
answers 501 for it like for any unknown path. The CRM's log is what ``journalctl -u
pve-ha-crm`` shows on the master, which ``GET /nodes/{node}/syslog?service=pve-ha-crm``
returns (pve-common ``PVE::Tools::dump_journal``; docs/lab-contract.md, "HA disarm").
"""

from __future__ import annotations

import time
from typing import Any

from provision.lab import hadisarm, hamanager
from provision.lab.ops.common import require_quorum
from provision.lab.registry import Ctx, Reply, p_enum, p_int, p_str, param_error, route

CRM_PID = 1201  # pve-ha-crm's process id in the lab's journal lines


@route("POST", "/cluster/ha/status/disarm-ha", pve=(9,))
def disarm_ha(ctx: Ctx, params: dict[str, Any]) -> None:
    mode = p_enum(params, "resource-mode", hadisarm.MODES)
    if mode is None:
        raise param_error("resource-mode", "property is missing and it is not optional")
    require_quorum(ctx)
    hamanager.queue_crm_command(ctx.store, ["disarm-ha", mode])


@route("POST", "/cluster/ha/status/arm-ha", pve=(9,))
def arm_ha(ctx: Ctx, params: dict[str, Any]) -> None:
    require_quorum(ctx)
    hamanager.queue_crm_command(ctx.store, ["arm-ha"])


@route("GET", "/nodes/{node}/syslog")
def syslog(ctx: Ctx, params: dict[str, Any]) -> Reply:
    """``PVE::Tools::dump_journal``: ``journalctl -o short`` lines as ``{n, t}`` from
    ``start``, at most ``limit`` (0 or unset: 50), ``total`` in the envelope, one line "no
    content" when there is none. The lab's journal holds only the CRM's lines
    (``pve-ha-crm``); any other service has none."""
    service = p_str(params, "service")
    start = p_int(params, "start", 0, lo=0) or 0
    limit = p_int(params, "limit", 0, lo=0) or 50
    entries = hadisarm.log_lines(ctx.store, params["node"]) if service in (None, "pve-ha-crm") else []
    lines = [f"{time.strftime('%b %d %H:%M:%S', time.localtime(e['time']))} {e['node']} "
             f"pve-ha-crm[{CRM_PID}]: {e['msg']}" for e in entries]
    if not lines:
        return Reply([{"n": 1, "t": "no content"}], {"total": 1})
    chosen = lines[start:start + limit]
    return Reply([{"n": start + i + 1, "t": text} for i, text in enumerate(chosen)], {"total": len(lines)})
