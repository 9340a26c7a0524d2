"""``ha-manager``: resources, PVE 8 groups, PVE 9 rules, status (pve-ha-manager ``CLI/ha_manager.pm``)."""

from __future__ import annotations

import sys
from typing import Any

from provision.lab.cli.common import fail, node_context, options_as_params, parse_args, print_json
from provision.lab.files import HA_RULES
from provision.lab.ops import ha as _ha_handlers  # noqa: F401  (registers /cluster/ha/*, which `call` finds)
from provision.lab.ops.common import require_quorum
from provision.lab.registry import Ctx, call

FLAGS = frozenset({"restricted", "nofailback", "strict", "disable", "failback", "verbose", "purge"})


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("help", "-h", "--help"):
        print("USAGE: ha-manager <add|set|remove|config|status|migrate|relocate|crm-command|groupadd|groupset|"
              "groupremove|groupconfig|rules> ...")
        return 0
    with node_context(["ha-manager", *argv]) as ctx:
        return _dispatch(ctx, argv[0], argv[1:])


def _dispatch(ctx: Ctx, sub: str, rest: list[str]) -> int:
    args = parse_args(rest, FLAGS)
    params = options_as_params(args)
    if sub == "add":
        params["sid"] = args.pos(0, "sid")
        call(ctx, "POST", "/cluster/ha/resources", params)
        return 0
    if sub == "set":
        call(ctx, "PUT", f"/cluster/ha/resources/{args.pos(0, 'sid')}", params)
        return 0
    if sub in ("remove", "delete"):
        call(ctx, "DELETE", f"/cluster/ha/resources/{args.pos(0, 'sid')}", params)
        return 0
    if sub == "config":
        _print_records(call(ctx, "GET", "/cluster/ha/resources", params), "sid", ("digest", "sid", "type", "errors"))
        return 0
    if sub == "status":
        for e in call(ctx, "GET", "/cluster/ha/status/current", {}):
            print(f"{e['type']} {e['status']}")
        return 0
    if sub in ("migrate", "relocate"):  # aliases of crm-command migrate/relocate
        return _motion(ctx, sub, args.pos(0, "sid"), args.pos(1, "node"))
    if sub == "crm-command":
        cmd = args.pos(0, "command")
        if cmd in ("migrate", "relocate"):
            return _motion(ctx, cmd, args.pos(1, "sid"), args.pos(2, "node"))
        if cmd == "stop":
            # ha-manager crm-command stop <sid> <timeout>: both required; the CRM then sets state stopped
            sid, timeout = args.pos(1, "sid"), args.pos(2, "timeout")
            if not timeout.isdigit():
                fail(f"400 Parameter verification failed.\ntimeout: type check ('integer') failed - got '{timeout}'")
            call(ctx, "PUT", f"/cluster/ha/resources/{sid}", {"state": "stopped"})
            return 0
        if cmd == "node-maintenance":
            return _node_maintenance(ctx, args.pos(1, "enable|disable"), args.pos(2, "node"))
        if cmd in ("disarm-ha", "arm-ha") and ctx.pve_version >= 9:
            # CLI/ha_manager.pm:301-302 (5.1.3): the API calls, resource-mode positional
            body = {"resource-mode": args.pos(1, "resource-mode")} if cmd == "disarm-ha" else {}
            call(ctx, "POST", f"/cluster/ha/status/{cmd}", body)
            return 0
        fail(f"unknown command 'ha-manager crm-command {cmd}'")
    if sub == "groupadd":
        params["group"] = args.pos(0, "group")
        call(ctx, "POST", "/cluster/ha/groups", params)
        return 0
    if sub == "groupset":
        call(ctx, "PUT", f"/cluster/ha/groups/{args.pos(0, 'group')}", params)
        return 0
    if sub == "groupremove":
        call(ctx, "DELETE", f"/cluster/ha/groups/{args.pos(0, 'group')}", {})
        return 0
    if sub == "groupconfig":
        _print_records(call(ctx, "GET", "/cluster/ha/groups", {}), "group", ("digest", "group", "type"))
        return 0
    if sub == "rules":
        return _rules(ctx, args.positional, params)
    fail(f"unknown command 'ha-manager {sub}'")


def _node_maintenance(ctx: Ctx, verb: str, node: str) -> int:
    """``crm-command node-maintenance enable|disable NODE``: a CLI-only method of
    ``CLI/ha_manager.pm`` (no API path): check the node exists, queue the CRM command."""
    if verb not in ("enable", "disable"):
        fail(f"unknown command 'ha-manager crm-command node-maintenance {verb}'")
    if ctx.store.one("SELECT 1 FROM nodes WHERE name = ?", (node,)) is None:
        fail(f"no such cluster node '{node}'")
    require_quorum(ctx)
    from provision.lab import hamanager  # the CRM loop's module: only this command needs it

    hamanager.queue_crm_command(ctx.store, [f"{verb}-node-maintenance", node])
    return 0


def _motion(ctx: Ctx, cmd: str, sid: str, node: str) -> int:
    """``CLI/ha_manager.pm`` ``print_resource_motion_output``: the API has queued the
    command already; blocking resources make the CLI die (exit 255) naming each one,
    resources kept together are reported as moving along."""
    data = call(ctx, "POST", f"/cluster/ha/resources/{sid}/{cmd}", {"node": node})
    if not isinstance(data, dict):
        return 0  # PVE 8 returns null
    sid, req_node = data["sid"], data["requested-node"]
    blocking = data.get("blocking-resources") or []
    if blocking:
        lines = [f"cannot {cmd} resource '{sid}' to node '{req_node}':", ""]
        for b in blocking:
            line = f"- resource '{b['sid']}' on target node '{req_node}'"
            if b.get("cause") == "resource-affinity":
                line += f" in negative affinity with resource '{sid}'"
            lines.append(line)
        fail("\n".join(lines))
    for other in data.get("comigrated-resources") or []:
        print(f"also {cmd} resource '{other}' in positive affinity with resource '{sid}' to target node '{req_node}'")
    return 0


def _print_records(records: list[dict[str, Any]], key: str, skip: tuple[str, ...]) -> None:
    """``ha-manager config``/``groupconfig``: API records sorted by id, their keys sorted."""
    for rec in sorted(records, key=lambda r: str(r[key])):
        if key == "sid":
            kind, _, name = str(rec["sid"]).partition(":")
            print(f"{kind}:{name}")
        else:
            print(f"group: {rec['group']}")
        for k in sorted(rec):
            if k not in skip:
                print(f"\t{k} {rec[k]}")
        for prop, msg in (rec.get("errors") or {}).items() if key == "sid" else ():
            print(f"error: property '{prop}' - {msg}", file=sys.stderr)
        print()


def _config_blocks(ctx: Ctx, path: str, only_type: Any) -> None:
    """The section-config text, optionally one type only (``ha-manager config --type vm``)."""
    text = ctx.store.get_file(path) or ""
    blocks = [b for b in text.split("\n\n") if b.strip()]
    for b in blocks:
        head = b.split(":", 1)[0]
        if only_type and head != only_type:
            continue
        first, *props = b.strip("\n").split("\n")
        print(first)
        for p in props:
            print(p)
        print()


def _rules(ctx: Ctx, pos: list[str], params: dict[str, Any]) -> int:
    if not pos:
        fail("400 not enough arguments\nusage: ha-manager rules <add|set|remove|list|config>")
    action = pos[0]
    if action == "add":
        if len(pos) < 3:
            fail("400 not enough arguments\nusage: ha-manager rules add <type> <rule> [OPTIONS]")
        call(ctx, "POST", "/cluster/ha/rules", {**params, "type": pos[1], "rule": pos[2]})
        return 0
    if action == "set":
        if len(pos) < 3:
            fail("400 not enough arguments\nusage: ha-manager rules set <type> <rule> [OPTIONS]")
        call(ctx, "PUT", f"/cluster/ha/rules/{pos[2]}", {**params, "type": pos[1]})
        return 0
    if action in ("remove", "delete"):
        if len(pos) < 2:
            fail("400 not enough arguments\nusage: ha-manager rules remove <rule>")
        call(ctx, "DELETE", f"/cluster/ha/rules/{pos[1]}", {})
        return 0
    if action in ("list", "config"):
        fmt = params.pop("output-format", "text")
        data = call(ctx, "GET", "/cluster/ha/rules", params)
        if fmt in ("json", "json-pretty"):
            print_json(data, pretty=fmt == "json-pretty")
        elif action == "config":
            _config_blocks(ctx, HA_RULES, params.get("type"))
        else:
            for r in data:
                state = "ignored (conflicts)" if r.get("errors") else ("disabled" if r.get("disable") else "enabled")
                print(f"{r['type']} {r['rule']} {state} {r.get('resources', '')}")
        return 0
    fail(f"unknown command 'ha-manager rules {action}'")
