"""``POST /cluster/ha/status/disarm-ha|arm-ha`` (PVE 9) and the node's syslog of the CRM.

Both calls only queue a CRM command (``HA::Config::queue_crm_commands``, a write to
``/etc/pve/ha/crm_commands``, so they need quorum) and return null: whether the stack
was already disarmed, and when it is fully disarmed, shows only in the manager status and
the CRM's log. PVE 8 (pve-ha-manager 4.x) has neither path: pve-manager's HTTP server
answers 501 for it like for any unknown path. The CRM's log is what ``journalctl -u
pve-ha-crm`` shows on the master, which ``GET /nodes/{node}/syslog?service=pve-ha-crm``
returns (docs/lab-contract.md, "HA disarm").
"""

from __future__ import annotations

import time
from typing import Any

from provision.lab import hadisarm, hamanager
from provision.lab.ops.common import require_quorum
from provision.lab.registry import Ctx, p_enum, p_int, p_str, param_error, route


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
def syslog(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The node's journal as ``{n, t}`` lines; the lab keeps only the CRM's (``pve-ha-crm``)."""
    service = p_str(params, "service")
    start = p_int(params, "start", 0, lo=0) or 0
    limit = p_int(params, "limit", 50, lo=0)
    if service not in (None, "pve-ha-crm"):
        return []
    lines = [f"{time.strftime('%b %d %H:%M:%S', time.localtime(line['time']))} {line['node']} "
             f"pve-ha-crm[{_PID}]: {line['msg']}" for line in hadisarm.log_lines(ctx.store, params["node"])]
    chosen = lines[start:start + limit] if limit else lines[start:]
    return [{"n": start + i + 1, "t": text} for i, text in enumerate(chosen)]


_PID = 1201  # pve-ha-crm's process id in the lab's journal lines
