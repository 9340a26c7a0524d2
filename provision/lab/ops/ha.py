"""HA configuration (resources, PVE 8 groups, PVE 9 rules) and HA status.

Configuration lives in ``/etc/pve/ha/*.cfg`` (section config); runtime state (where each
service is, CRM node states) is written by the CRM loop (``provision.lab.crm``) into the
``ha_*`` tables and shown here. Messages follow pve-ha-manager's API modules, including the
``lock_ha_domain`` prefix (``create resource failed: ...``).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from provision.lab import crmbridge, hadisarm
from provision.lab.cfslock import LockTimeout, cfs_lock
from provision.lab.files import HA_GROUPS, HA_RESOURCES, HA_RULES, find_section, parse_sections, write_sections
from provision.lab.formats.sectionconfig import Section, SectionConfigError, format_node_list, parse_node_list
from provision.lab.ops.common import require_quorum, topo
from provision.lab.registry import ApiError, Ctx, p_bool, p_enum, p_int, p_req, p_str, param_error, route

STATES = ("started", "stopped", "enabled", "disabled", "ignored")
MIGRATED = "ha groups have been migrated to rules"


def _digest(text: str | None) -> str:
    return hashlib.sha1((text or "").encode()).hexdigest()


def sid_of(s: Section) -> str:
    return s.id


def read_resources(ctx: Ctx) -> list[Section]:
    return parse_sections(ctx.store.get_file(HA_RESOURCES), "resources")


def read_groups(ctx: Ctx) -> list[Section]:
    return parse_sections(ctx.store.get_file(HA_GROUPS), "groups")


def read_rules(ctx: Ctx) -> list[Section]:
    return parse_sections(ctx.store.get_file(HA_RULES), "rules")


@contextmanager
def lock_ha_domain(ctx: Ctx, errmsg: str) -> Iterator[None]:
    """``PVE::HA::Config::lock_ha_domain``: the cluster-wide ``domain-ha`` lock around an
    HA configuration edit; a timeout is a 500 prefixed with the caller's message."""
    try:
        with cfs_lock(ctx.paths.root, "domain-ha"):
            yield
    except LockTimeout as exc:
        raise ApiError(500, f"{errmsg}: {exc}") from None


def _write(ctx: Ctx, path: str, sections: list[Section], kind: str) -> None:
    if sections:
        ctx.store.put_file(path, write_sections(sections, kind))
    else:
        ctx.store.put_file(path, "")


def parse_sid(ctx: Ctx, raw: str) -> tuple[str, str, str]:
    """``vm:100`` / ``ct:101`` / bare VMID (resolved through the guest list)."""
    m = re.fullmatch(r"(?:(vm|ct):)?(\d+)", raw)
    if not m:
        raise param_error("sid", f"value '{raw}' does not look like a valid resource id")
    kind, vmid = m.group(1), m.group(2)
    if kind is None:
        row = ctx.store.one("SELECT type FROM guests WHERE vmid = ?", (int(vmid),))
        if row is None:
            raise ApiError(500, f"unable do detect SID from VMID - VM/CT {vmid} does not exist")  # sic (ha-manager)
        kind = "vm" if row["type"] == "qemu" else "ct"
    return f"{kind}:{vmid}", kind, vmid


def _check_guest(ctx: Ctx, kind: str, vmid: str) -> None:
    """pve-ha-manager `Resources/PVEVM.pm`/`PVECT.pm` `exists` (the cluster's vmlist)."""
    row = ctx.store.one("SELECT type FROM guests WHERE vmid = ?", (int(vmid),))
    if row is None:
        raise ApiError(500, f"resource '{kind}:{vmid}' does not exist in cluster")
    if row["type"] != ("qemu" if kind == "vm" else "lxc"):
        what = "VM" if kind == "vm" else "container"
        raise ApiError(500, f"resource '{kind}:{vmid}' - guest with ID {vmid} is not a {what}")


def _resource_props(ctx: Ctx, params: dict[str, Any], create: bool) -> dict[str, str]:
    props: dict[str, str] = {}
    state = p_enum(params, "state", STATES)
    if state is not None:
        props["state"] = state
    for key in ("max_restart", "max_relocate"):
        v = p_int(params, key, lo=0)
        if v is not None:
            props[key] = str(v)
    comment = p_str(params, "comment")
    if comment is not None:
        props["comment"] = comment
    group = p_str(params, "group")
    if group is not None:
        if ctx.pve_version >= 9 and not read_groups(ctx):
            raise ApiError(500, f"invalid parameter 'group': {MIGRATED}")
        if not any(g.id == group for g in read_groups(ctx)):
            raise ApiError(500, f"HA group '{group}' does not exist")
        props["group"] = group
    failback = p_bool(params, "failback")
    if failback is not None:
        if ctx.pve_version < 9:
            raise param_error("failback", "property is not defined in schema and the schema does not allow "
                              "additional properties")
        props["failback"] = "1" if failback else "0"
    return props


@route("GET", "/cluster/ha")
def ha_index(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, str]]:
    # pve-manager API2/HAConfig.pm: PVE 9 still lists groups (the endpoint then errors)
    names = ["status", "resources", "groups"] + (["rules"] if ctx.pve_version >= 9 else [])
    return [{"id": n} for n in names]


@route("GET", "/cluster/ha/resources")
def resources_list(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    kind = p_enum(params, "type", ("vm", "ct"))
    digest = _digest(ctx.store.get_file(HA_RESOURCES))
    groups = {g.id for g in read_groups(ctx)}
    out = []
    for s in read_resources(ctx):
        if kind and s.type != kind:
            continue
        out.append(_resource_api(s, digest, groups))
    return out


def _resource_api(s: Section, digest: str, groups: set[str]) -> dict[str, Any]:
    d: dict[str, Any] = {"sid": sid_of(s), "type": s.type, "digest": digest}
    for k, v in s.props.items():
        d[k] = int(v) if k in ("max_restart", "max_relocate", "failback") else v
    if "group" in d and d["group"] not in groups:
        d["errors"] = {"group": f"group '{d['group']}' does not exist"}
    return d


@route("GET", "/cluster/ha/resources/{sid}")
def resources_get(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    sid, _, _ = parse_sid(ctx, p_req(params, "sid"))
    text = ctx.store.get_file(HA_RESOURCES)
    s = find_section(text, "resources", sid)
    if s is None:
        raise ApiError(500, f"no such resource '{sid}'")
    return _resource_api(s, _digest(text), {g.id for g in read_groups(ctx)})


@route("POST", "/cluster/ha/resources")
def resources_create(ctx: Ctx, params: dict[str, Any]) -> None:
    add_resources(ctx, [params])


def add_resources(ctx: Ctx, many: list[dict[str, Any]]) -> None:
    """``POST /cluster/ha/resources`` for each of ``many`` in turn, with its checks and
    messages, written as one edit of resources.cfg: `lab up --from` adds thousands, and
    rewriting the file once per resource made that quadratic. As in PVE, the quorum, the
    guest and the options are checked before the HA lock is taken (``Resources.pm``
    create), so the lock is held only to read, check for the sid, and write."""
    require_quorum(ctx)
    checked: list[tuple[str, str, dict[str, str]]] = []
    for params in many:
        sid, kind, vmid = parse_sid(ctx, p_req(params, "sid"))
        ptype = p_str(params, "type")
        if ptype and ptype != kind:
            raise ApiError(500, "types does not match")
        _check_guest(ctx, kind, vmid)
        checked.append((sid, kind, _resource_props(ctx, params, True)))
    with lock_ha_domain(ctx, "create resource failed"), ctx.store.tx():
        res = read_resources(ctx)
        have = {sid_of(s) for s in res}
        for sid, kind, props in checked:
            if sid in have:
                raise ApiError(500, f"create resource failed: resource ID '{sid}' already defined")
            res.append(Section(kind, sid, props))
            have.add(sid)
        _write(ctx, HA_RESOURCES, res, "resources")


@route("PUT", "/cluster/ha/resources/{sid}")
def resources_update(ctx: Ctx, params: dict[str, Any]) -> None:
    with lock_ha_domain(ctx, "update resource failed"), ctx.store.tx():
        require_quorum(ctx)
        sid, _, _ = parse_sid(ctx, p_req(params, "sid"))
        props = _resource_props(ctx, params, False)
        row = ctx.store.one("SELECT state FROM ha_services WHERE sid = ?", (sid,))
        if row is not None and row["state"] == "error" and props.get("state") != "disabled":
            raise ApiError(500, f"service '{sid}' in error state, must be disabled and fixed first")
        res = read_resources(ctx)
        target = next((s for s in res if sid_of(s) == sid), None)
        if target is None:
            raise ApiError(500, f"update resource failed: no such resource '{sid}'")
        _check_digest(params, ctx.store.get_file(HA_RESOURCES))
        target.props.update(props)
        for k in (p_str(params, "delete") or "").split(","):
            k = k.strip()
            if not k:
                continue
            if k not in ("state", "max_restart", "max_relocate", "comment", "group", "failback"):
                raise ApiError(500, f"update resource failed: no such option '{k}'")
            target.props.pop(k, None)
        _write(ctx, HA_RESOURCES, res, "resources")


def _check_digest(params: dict[str, Any], text: str | None) -> None:
    digest = p_str(params, "digest")
    if digest and digest != _digest(text):
        raise ApiError(500, "detected modified configuration - file changed by other user? Try again.")


@route("DELETE", "/cluster/ha/resources/{sid}")
def resources_delete(ctx: Ctx, params: dict[str, Any]) -> None:
    with lock_ha_domain(ctx, "delete resource failed"), ctx.store.tx():
        require_quorum(ctx)
        sid, _, _ = parse_sid(ctx, p_req(params, "sid"))
        res = read_resources(ctx)
        if not any(sid_of(s) == sid for s in res):
            raise ApiError(500, f"cannot delete service '{sid}', not HA managed!")
        _write(ctx, HA_RESOURCES, [s for s in res if sid_of(s) != sid], "resources")
        if ctx.pve_version >= 9 and p_bool(params, "purge", True):
            rules = read_rules(ctx)
            kept = []
            for r in rules:
                sids = [x for x in r.props.get("resources", "").split(",") if x and x != sid]
                if not sids:
                    continue
                r.props["resources"] = ",".join(sorted(sids))
                kept.append(r)
            if len(kept) != len(rules) or rules:
                _write(ctx, HA_RULES, kept, "rules")
        ctx.store.exec("DELETE FROM ha_services WHERE sid = ?", (sid,))


def _crm_command(ctx: Ctx, params: dict[str, Any], kind: str) -> Any:
    with ctx.store.tx():
        require_quorum(ctx)
        sid, _, _ = parse_sid(ctx, p_req(params, "sid"))
        node = p_req(params, "node")
        # HA::Config::service_is_ha_managed: an ignored resource counts as unmanaged, and so
        # does every resource while HA is disarmed with resource-mode ignore (Config.pm:359-363)
        if hadisarm.ignored(ctx.store) or \
                not any(sid_of(s) == sid and s.props.get("state") != "ignored" for s in read_resources(ctx)):
            raise ApiError(500, f"resource '{sid}' is not HA managed")
        row = ctx.store.one("SELECT state FROM ha_services WHERE sid = ?", (sid,))
        if row is not None and row["state"] == "error":
            raise ApiError(500, f"service '{sid}' in error state, must be disabled and fixed first")
        if ctx.store.one("SELECT 1 FROM nodes WHERE name = ?", (node,)) is None:
            raise param_error("node", f"no such cluster node '{node}'")
        cmds: list[list[str]] = ctx.store.get_meta("crm_commands", []) or []
        cmds.append([kind, sid, node])
        ctx.store.set_meta("crm_commands", cmds)
        if ctx.pve_version < 9:
            return None
        result: dict[str, Any] = {"sid": sid, "requested-node": node}
        comigrated, blocking = _motion_info(ctx, sid, node)
        if comigrated:
            result["comigrated-resources"] = comigrated
        if blocking:
            result["blocking-resources"] = [{"sid": b, "cause": "resource-affinity"} for b in blocking]
        return result


def _motion_info(ctx: Ctx, sid: str, node: str) -> tuple[list[str], list[str]]:
    """``HA::Config::get_resource_motion_info``: the resources kept together with ``sid``
    that the CRM tracks, and those kept apart from it on ``node`` (only an online node
    can block). The command is queued either way; the CRM refuses it (``Manager.pm``
    ``queue_resource_motion``) and the CLI reports the blockers."""
    rows = {r["sid"]: dict(r) for r in ctx.store.query("SELECT sid, node, target FROM ha_services")}
    nodes = [r["name"] for r in ctx.store.query("SELECT name FROM ha_nodes ORDER BY name")]
    online = {r["name"] for r in ctx.store.query("SELECT name FROM ha_nodes WHERE state = 'online'")}
    config = crmbridge.ha_config(read_groups(ctx), read_rules(ctx))
    motion = crmbridge.resource_motion_info(config, rows, nodes, sid, node)
    together = sorted(crmbridge.affinitive(config, nodes, sid) & set(rows))
    return together, list(motion.blocking) if node in online else []


@route("POST", "/cluster/ha/resources/{sid}/migrate")
def resources_migrate(ctx: Ctx, params: dict[str, Any]) -> Any:
    return _crm_command(ctx, params, "migrate")


@route("POST", "/cluster/ha/resources/{sid}/relocate")
def resources_relocate(ctx: Ctx, params: dict[str, Any]) -> Any:
    return _crm_command(ctx, params, "relocate")


# --- groups (PVE 8) ---------------------------------------------------------------------------


def _groups_allowed(ctx: Ctx) -> None:
    if ctx.pve_version >= 9 and not read_groups(ctx):
        raise ApiError(500, MIGRATED)


def _parse_nodes(ctx: Ctx, raw: str, param: str = "nodes") -> dict[str, int]:
    try:
        out = parse_node_list(raw)
    except SectionConfigError as exc:
        raise param_error(param, f"invalid format - {exc}") from None
    if not out:
        raise param_error(param, "property is missing and it is not optional")
    return out


def _group_api(g: Section, digest: str) -> dict[str, Any]:
    d: dict[str, Any] = {"group": g.id, "type": "group", "digest": digest}
    for k, v in g.props.items():
        d[k] = int(v) if k in ("restricted", "nofailback") else v
    return d


@route("GET", "/cluster/ha/groups")
def groups_list(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    _groups_allowed(ctx)
    digest = _digest(ctx.store.get_file(HA_GROUPS))
    return [_group_api(g, digest) for g in read_groups(ctx)]


@route("GET", "/cluster/ha/groups/{group}")
def groups_get(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    _groups_allowed(ctx)
    name = p_req(params, "group")
    for g in read_groups(ctx):
        if g.id == name:
            return _group_api(g, _digest(ctx.store.get_file(HA_GROUPS)))
    raise ApiError(500, f"no such ha group '{name}'")


def _group_props(ctx: Ctx, params: dict[str, Any], g: Section) -> None:
    nodes = p_str(params, "nodes")
    if nodes is not None:
        parsed = _parse_nodes(ctx, nodes)
        g.props["nodes"] = format_node_list(parsed, sort=False)
    for key in ("restricted", "nofailback"):
        v = p_bool(params, key)
        if v is not None:
            g.props[key] = "1" if v else "0"
    comment = p_str(params, "comment")
    if comment is not None:
        g.props["comment"] = comment


@route("POST", "/cluster/ha/groups")
def groups_create(ctx: Ctx, params: dict[str, Any]) -> None:
    with ctx.store.tx():
        _groups_allowed(ctx)
        require_quorum(ctx)
        name = p_req(params, "group")
        p_req(params, "nodes")
        groups = read_groups(ctx)
        if any(g.id == name for g in groups):
            raise ApiError(500, f"create ha group failed: ha group ID '{name}' already defined")
        g = Section("group", name)
        _group_props(ctx, params, g)
        groups.append(g)
        _write(ctx, HA_GROUPS, groups, "groups")


@route("PUT", "/cluster/ha/groups/{group}")
def groups_update(ctx: Ctx, params: dict[str, Any]) -> None:
    with ctx.store.tx():
        _groups_allowed(ctx)
        require_quorum(ctx)
        name = p_req(params, "group")
        groups = read_groups(ctx)
        g = next((x for x in groups if x.id == name), None)
        if g is None:
            raise ApiError(500, f"update ha group failed: no such ha group '{name}'")
        _check_digest(params, ctx.store.get_file(HA_GROUPS))
        _group_props(ctx, params, g)
        for k in (p_str(params, "delete") or "").split(","):
            if k.strip() == "nodes":
                raise ApiError(500, "update ha group failed: unable to delete required option 'nodes'")
            if k.strip():
                g.props.pop(k.strip(), None)
        _write(ctx, HA_GROUPS, groups, "groups")


@route("DELETE", "/cluster/ha/groups/{group}")
def groups_delete(ctx: Ctx, params: dict[str, Any]) -> None:
    with ctx.store.tx():
        _groups_allowed(ctx)
        require_quorum(ctx)
        name = p_req(params, "group")
        groups = read_groups(ctx)
        if not any(g.id == name for g in groups):
            raise ApiError(500, f"delete ha group failed: no such ha group '{name}'")
        for s in read_resources(ctx):
            if s.props.get("group") == name:
                raise ApiError(500, f"delete ha group failed: ha group is used by service '{sid_of(s)}'")
        _write(ctx, HA_GROUPS, [g for g in groups if g.id != name], "groups")


# --- rules (PVE 9) ----------------------------------------------------------------------------

RULE_TYPES = ("node-affinity", "resource-affinity")


def rule_errors(ctx: Ctx, rules: list[Section]) -> dict[str, dict[str, str]]:
    """Feasibility checks (``provision.crm``): which rules PVE would ignore, and why."""
    nodes = [r["name"] for r in ctx.store.query("SELECT name FROM nodes ORDER BY name")]
    return crmbridge.rule_errors(read_groups(ctx), rules, read_resources(ctx), nodes)


def _rule_api(r: Section, order: int, digest: str, errs: dict[str, str] | None) -> dict[str, Any]:
    d: dict[str, Any] = {"rule": r.id, "type": r.type, "digest": digest, "order": order}
    for k, v in r.props.items():
        d[k] = int(v) if k in ("strict", "disable") else v
    if r.type == "node-affinity":
        d.setdefault("strict", 0)
        d.setdefault("affinity", "positive")  # set_rule_defaults (ha-manager >= 5.2.5)
    if errs:
        d["errors"] = errs
    return d


@route("GET", "/cluster/ha/rules", pve=(9,))
def rules_list(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    rtype = p_enum(params, "type", RULE_TYPES)
    resource = p_str(params, "resource")
    rules = read_rules(ctx)
    errs = rule_errors(ctx, rules)
    digest = _digest(ctx.store.get_file(HA_RULES))
    out = []
    for i, r in enumerate(rules, start=1):
        if rtype and r.type != rtype:
            continue
        if resource and resource not in r.props.get("resources", "").split(","):
            continue
        out.append(_rule_api(r, i, digest, errs.get(r.id)))
    return out


@route("GET", "/cluster/ha/rules/{rule}", pve=(9,))
def rules_get(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = p_req(params, "rule")
    rules = read_rules(ctx)
    errs = rule_errors(ctx, rules)
    for i, r in enumerate(rules, start=1):
        if r.id == name:
            return _rule_api(r, i, _digest(ctx.store.get_file(HA_RULES)), errs.get(r.id))
    raise ApiError(500, f"no such ha rule '{name}'")


def _rule_props(ctx: Ctx, params: dict[str, Any], r: Section, verb: str) -> None:
    resources = p_str(params, "resources")
    if resources is not None:
        sids = []
        for raw in resources.split(","):
            if raw.strip():
                sids.append(parse_sid(ctx, raw.strip())[0])
        managed = {sid_of(s) for s in read_resources(ctx)}
        missing = sorted(set(sids) - managed)
        if missing:
            raise ApiError(500, f"{verb} failed: cannot use unmanaged resource(s) {', '.join(missing)}.")
        r.props["resources"] = ",".join(sorted(set(sids)))
    nodes = p_str(params, "nodes")
    if nodes is not None:
        if r.type != "node-affinity":
            raise param_error("nodes", "property is not defined in schema and the schema does not allow additional "
                              "properties")
        parsed = _parse_nodes(ctx, nodes)
        known = {row["name"] for row in ctx.store.query("SELECT name FROM nodes")}
        bad = sorted(set(parsed) - known)
        if bad:
            raise ApiError(500, f"{verb} failed: cannot use non-existant node(s) {', '.join(bad)}.")
        r.props["nodes"] = format_node_list(parsed)
    strict = p_bool(params, "strict")
    if strict is not None:
        r.props["strict"] = "1" if strict else "0"
    affinity = p_enum(params, "affinity", ("positive", "negative"))
    if affinity is not None:
        r.props["affinity"] = affinity
    # API2/HA/Rules.pm create_rule/update_rule: `delete $param->{disable} if !$param->{disable}`,
    # so `disable 0` changes nothing; only `delete=disable` enables a disabled rule again
    if p_bool(params, "disable"):
        r.props["disable"] = "1"
    comment = p_str(params, "comment")
    if comment is not None:
        r.props["comment"] = comment


def _assert_feasible(ctx: Ctx, rules: list[Section], rid: str) -> None:
    errs = rule_errors(ctx, rules).get(rid)
    if errs:
        raise ApiError(400, f"Rule '{rid}' is invalid.", errs)


@route("POST", "/cluster/ha/rules", pve=(9,))
def rules_create(ctx: Ctx, params: dict[str, Any]) -> None:
    with ctx.store.tx():
        require_quorum(ctx)
        if read_groups(ctx):  # checked before the parameters, as in ha-manager 5.0
            raise ApiError(500, "cannot create ha rule: ha groups have not been migrated yet")
        rtype = p_enum(params, "type", RULE_TYPES)
        if rtype is None:
            raise param_error("type", "property is missing and it is not optional")
        rid = p_req(params, "rule")
        p_req(params, "resources")
        if rtype == "node-affinity":
            p_req(params, "nodes")
        else:
            p_req(params, "affinity")
        rules = read_rules(ctx)
        if any(r.id == rid for r in rules):
            raise ApiError(500, f"create ha rule failed: HA rule '{rid}' already defined")
        r = Section(rtype, rid)
        _rule_props(ctx, params, r, "create ha rule")
        rules.append(r)
        _assert_feasible(ctx, rules, rid)
        _write(ctx, HA_RULES, rules, "rules")


@route("PUT", "/cluster/ha/rules/{rule}", pve=(9,))
def rules_update(ctx: Ctx, params: dict[str, Any]) -> None:
    with ctx.store.tx():
        require_quorum(ctx)
        if read_groups(ctx):
            raise ApiError(500, "cannot update ha rule: ha groups have not been migrated yet")
        rid = p_req(params, "rule")
        p_req(params, "type")
        rules = read_rules(ctx)
        r = next((x for x in rules if x.id == rid), None)
        if r is None:
            raise ApiError(500, f"update HA rules failed: HA rule '{rid}' does not exist")
        _check_digest(params, ctx.store.get_file(HA_RULES))
        _rule_props(ctx, params, r, "update HA rules")
        for k in (p_str(params, "delete") or "").split(","):
            if k.strip():
                r.props.pop(k.strip(), None)
        _assert_feasible(ctx, rules, rid)
        _write(ctx, HA_RULES, rules, "rules")


@route("DELETE", "/cluster/ha/rules/{rule}", pve=(9,))
def rules_delete(ctx: Ctx, params: dict[str, Any]) -> None:
    with ctx.store.tx():
        require_quorum(ctx)
        rid = p_req(params, "rule")
        rules = read_rules(ctx)
        _write(ctx, HA_RULES, [r for r in rules if r.id != rid], "rules")


# --- status -----------------------------------------------------------------------------------


def verbose_state(request: str | None, crm: str | None, has_node: bool = True) -> str:
    """pve-ha-manager ``Tools::get_verbose_service_state`` (``request`` None = not configured)."""
    if request is None:
        return "deleting"
    if request == "enabled":
        request = "started"
    if request == "ignored":
        return "ignored"
    if not has_node:
        return "not found"
    if crm is None:
        return "queued"
    if crm == "stopped":
        if request == "started":
            return "starting"
        if request == "disabled":
            return "disabled"
    elif crm == "started":
        if request in ("stopped", "disabled"):
            return "stopping"
    elif crm == "error" and request == "disabled":
        return "clearing error flag"
    return crm


def service_states(ctx: Ctx) -> dict[str, str]:
    """sid -> HA state as ``/cluster/resources`` ``hastate`` shows it.

    pve-manager takes the CRM's raw service state, or the configured ``state`` for a
    service the CRM has not seen yet (nothing when that is unset).
    """
    crm = {r["sid"]: r["state"] for r in ctx.store.query("SELECT sid, state FROM ha_services")}
    out = {}
    for s in read_resources(ctx):
        sid = sid_of(s)
        state = crm.get(sid, s.props.get("state"))
        if state is not None:
            out[sid] = state
    return out


def crm_state(ctx: Ctx, sid: str) -> str | None:
    """The CRM's service state (``HA::Config::get_service_status``), None when not seen yet."""
    row = ctx.store.one("SELECT state FROM ha_services WHERE sid = ?", (sid,))
    return str(row["state"]) if row is not None else None


def _ctime(ts: float) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(ts))


@route("GET", "/cluster/ha/status")
def status_index(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, str]]:
    names = ["current", "manager_status"] + (["disarm-ha", "arm-ha"] if ctx.pve_version >= 9 else [])
    return [{"name": n} for n in names]


def _lrm_state(online: bool, mode: str, active: bool) -> str:
    """LRM.pm work(): an active LRM asked for maintenance enters state 'maintenance' and
    stays there (releasing its lock once empty) until the request is gone; a disarmed one
    releases its agent lock and waits (5.1.3, LRM.pm:364-395)."""
    if online and mode == "maintenance":
        return "maintenance"
    return "active" if online and active and mode != "disarm" else "wait_for_agent_lock"


def _watchdog(fresh: bool, mode: str, state: str) -> str:
    """Status.pm:268-279 (5.1.3): the LRM holds its watchdog while it holds the agent lock."""
    if fresh and state in ("active", "maintenance"):
        return "watchdog active"
    return "watchdog released" if mode == "disarm" else "watchdog standby"


@route("GET", "/cluster/ha/status/current")
def status_current(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    t = topo(ctx)
    quorate = t.quorate(ctx.node)
    now = time.time()
    out: list[dict[str, Any]] = [
        {"id": "quorum", "type": "quorum", "node": ctx.node,
         "status": "OK" if quorate else f"No quorum on node '{ctx.node}'!", "quorate": int(quorate)}
    ]
    master = ctx.store.get_meta("ha_master")
    resources = {sid_of(s): s for s in read_resources(ctx)}
    services = {r["sid"]: r for r in ctx.store.query("SELECT * FROM ha_services ORDER BY sid")}
    disarm = hadisarm.current(ctx.store) if ctx.pve_version >= 9 else None
    crm_active = False
    if master:
        st = "active" if now - master["timestamp"] <= 30 else "old timestamp - dead?"
        crm_active = st == "active"
        if quorate and st != "active" and not resources:
            st = "idle"
        if st == "active" and not resources:
            st = "idle"
        extra = f" - {disarm['state']}, resource mode: {disarm['mode']}" if disarm else ""
        out.append({"id": "master", "type": "master", "node": master["node"], "timestamp": int(master["timestamp"]),
                    "status": f"{master['node']} ({st}, {_ctime(master['timestamp'])}){extra}"})
    if ctx.pve_version >= 9:  # pve-ha-manager 5.1.3: the armed state (Status.pm:217-248)
        fence_node = master["node"] if master else ctx.node
        if disarm:
            wd = "CRM watchdog released" if disarm["state"] == "disarmed" else "CRM watchdog active"
            out.append({"id": "fencing", "type": "fencing", "node": fence_node, "armed-state": disarm["state"],
                        "resource_mode": disarm["mode"],
                        "status": f"{disarm['state']}, resource mode: {disarm['mode']} ({wd})"})
        else:
            armed = "armed" if crm_active else "standby"
            out.append({"id": "fencing", "type": "fencing", "node": fence_node, "armed-state": armed,
                        "status": f"{armed} (CRM watchdog {'active' if crm_active else 'standby'})"})
    modes = ctx.store.get_meta("lrm_modes", {}) or {}
    for row in ctx.store.query("SELECT * FROM ha_nodes ORDER BY name"):
        node = row["name"]
        active = any(s["node"] == node and s["state"] in ("started", "migrate", "relocate") for s in services.values())
        mode = modes.get(node, "active")
        fresh = row["state"] in ("online", "maintenance") and t.sees(ctx.node, node)
        if fresh:
            ts = master["timestamp"] if master else now
            # API2/HA/Status.pm: a fresh LRM in another mode shows "<mode> mode"
            st = f"{mode} mode" if mode != "active" else "active" if active else "idle"
        else:
            ts = row["since"]
            st = f"{mode} mode" if mode in ("maintenance", "disarm") else "old timestamp - dead?"
        # PVE 9 (5.1.3) adds whether the LRM holds its watchdog
        wd = f"{_watchdog(fresh, mode, _lrm_state(fresh, mode, active))}, " if ctx.pve_version >= 9 else ""
        out.append({"id": f"lrm:{node}", "type": "lrm", "node": node, "timestamp": int(ts),
                    "status": f"{node} ({st}, {wd}{_ctime(ts)})"})

    guest_nodes = {int(g["vmid"]): str(g["node"]) for g in ctx.store.query("SELECT vmid, node FROM guests")}

    def add(sid: str, sc: Section | None, ss: Any) -> None:
        d: dict[str, Any] = {"id": f"service:{sid}", "type": "service", "sid": sid}
        guest_node = guest_nodes.get(int(sc.id.split(":")[1])) if sc is not None else None
        if ss is not None:
            d["node"] = ss["node"]
            d["crm_state"] = ss["state"]
        elif guest_node is not None:
            d["node"] = guest_node
        # read_and_check_resources_config fills in the defaults before the API sees them
        conf: dict[str, str] = {}
        if sc is not None:
            conf = {"state": "started", "max_restart": "1", "max_relocate": "1"}
            if ctx.pve_version >= 9:
                conf["failback"] = "1"
            conf.update(sc.props)
            if conf["state"] == "enabled":
                conf["state"] = "started"
        d["state"] = verbose_state(conf.get("state"), ss["state"] if ss is not None else None,
                                   has_node=guest_node is not None)
        if disarm and disarm["mode"] == "ignore":  # Status.pm:324-329
            d["state"] = "ignore"
        d["status"] = f"{sid} ({d.get('node', '---')}, {d['state']})"
        if sc is not None:
            d["request_state"] = conf["state"]
            for key in ("group", "max_restart", "max_relocate", "failback", "comment"):
                if key in conf:
                    d[key] = int(conf[key]) if key in ("max_restart", "max_relocate", "failback") else conf[key]
        out.append(d)

    for sid in sorted(services):
        add(sid, resources.get(sid), services[sid])
    for sid in sorted(resources):
        if sid not in services:
            add(sid, resources[sid], None)
    return out


@route("GET", "/cluster/ha/status/manager_status")
def manager_status(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    t = topo(ctx)
    master = ctx.store.get_meta("ha_master")
    ms: dict[str, Any] = {}
    lrm: dict[str, Any] = {}
    if master:
        ms["master_node"] = master["node"]
        ms["timestamp"] = int(master["timestamp"])
    nodes = ctx.store.query("SELECT * FROM ha_nodes ORDER BY name")
    if nodes:
        ms["node_status"] = {r["name"]: r["state"] for r in nodes}
    services = ctx.store.query("SELECT * FROM ha_services ORDER BY sid")
    if services or master:
        ms["service_status"] = {
            r["sid"]: {"node": r["node"], "state": r["state"], "uid": r["uid"],
                       **({"running": 1} if r["state"] == "started" else {}),
                       **({"target": r["target"]} if r["target"] else {}),
                       **({"maintenance_node": r["maintenance_node"]} if r["maintenance_node"] else {})}
            for r in services
        }
    requests = ctx.store.get_meta("ha_node_request", {}) or {}
    if requests:
        ms["node_request"] = requests
    disarm = hadisarm.current(ctx.store)
    if disarm:
        ms["disarm"] = disarm
    modes = ctx.store.get_meta("lrm_modes", {}) or {}
    for r in nodes:
        online = r["state"] in ("online", "maintenance")
        active = any(s["node"] == r["name"] and s["state"] in ("started", "migrate", "relocate") for s in services)
        mode = modes.get(r["name"], "active")
        lrm[r["name"]] = {"mode": mode, "state": _lrm_state(online, mode, active),
                          "timestamp": int(master["timestamp"] if master and online else r["since"]),
                          "results": {}}
    out: dict[str, Any] = {"manager_status": ms, "quorum": {"node": ctx.node, "quorate": int(t.quorate(ctx.node))}}
    if lrm:
        out["lrm_status"] = lrm
    return out
