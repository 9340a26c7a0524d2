"""``/nodes/{node}/network``: stage edits in ``interfaces.new``, apply with ``ifreload -a``.

The files live on the node's own disk (``nodes/<node>/root/etc/network``), not in pmxcfs,
so network edits need no quorum. Writers are still serialised through the store's write
lock so parallel API calls and Ansible tasks on one node never lose an edit.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

from provision.lab.ops.common import require_node, task
from provision.lab.registry import ApiError, Ctx, Reply, p_bool, p_enum, p_int, p_req, p_str, param_error, route
from provision.pveformat import interfaces as ifs

TYPES = ("bridge", "bond", "eth", "alias", "vlan", "fabric", "OVSBridge", "OVSBond", "OVSPort", "OVSIntPort",
         "vnet", "unknown")
FILTERS = (*TYPES, "any_bridge", "any_local_bridge", "include_sdn")
BOND_MODES = tuple(ifs.BOND_MODES)


def _paths(ctx: Ctx, node: str) -> tuple[Path, Path]:
    cur = ctx.paths.interfaces(node)
    return cur, cur.with_name("interfaces.new")


def _nics(ctx: Ctx, node: str) -> tuple[list[str], set[str]]:
    rows = ctx.store.query("SELECT name, link_up FROM nics WHERE node = ? ORDER BY name", (node,))
    return [r["name"] for r in rows], {r["name"] for r in rows if r["link_up"]}


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def load(ctx: Ctx, node: str, *, staged: bool = True) -> ifs.InterfacesConfig:
    cur, new = _paths(ctx, node)
    text = (_read(new) if staged else None) or _read(cur) or ""
    phys, _ = _nics(ctx, node)
    return ifs.parse(text, phys)


def node_addresses(ctx: Ctx, node: str) -> list[str]:
    """IPv4 addresses configured (applied) on ``node``."""
    cfg = load(ctx, node, staged=False)
    return [d.address.split("/")[0] for d in cfg.ifaces.values() if d.address]


def _active(ctx: Ctx, node: str) -> set[str]:
    """Interfaces with a kernel link: NICs with carrier, plus what the applied file brings up."""
    phys, up = _nics(ctx, node)
    applied = load(ctx, node, staged=False)
    out = set(up)
    for name, d in applied.ifaces.items():
        if name not in phys and d.autostart:
            out.add(name)
    return out


@route("GET", "/nodes/{node}/network")
def index(ctx: Ctx, params: dict[str, Any]) -> Reply:
    node = params["node"]
    require_node(ctx, node)
    kind = p_enum(params, "type", FILTERS)
    cur, new = _paths(ctx, node)
    phys, _ = _nics(ctx, node)
    cfg = load(ctx, node)
    data = ifs.api_list(cfg, phys, _active(ctx, node), type_filter=kind)
    extra: dict[str, Any] = {}
    staged = _read(new)
    if staged is not None:
        diff = difflib.unified_diff((_read(cur) or "").splitlines(keepends=True), staged.splitlines(keepends=True),
                                    "/etc/network/interfaces", "/etc/network/interfaces.new")
        extra["changes"] = "".join(diff)
    return Reply(data, extra)


@route("GET", "/nodes/{node}/network/{iface}")
def get(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    node = params["node"]
    require_node(ctx, node)
    name = p_req(params, "iface")
    cfg = load(ctx, node)
    d = cfg.get(name)
    if d is None or name == "lo":
        raise param_error("iface", "interface does not exist")
    phys, _ = _nics(ctx, node)
    return ifs.to_api(d, phys, _active(ctx, node), ifaces=cfg.ifaces)


def _apply_params(d: ifs.Iface, params: dict[str, Any]) -> None:
    cidr = p_str(params, "cidr")
    address, netmask = p_str(params, "address"), p_str(params, "netmask")
    if cidr is None and address:
        cidr = f"{address}/{ifs.netmask_to_prefix(netmask) or netmask}" if netmask else address
    gateway = p_str(params, "gateway")
    if cidr is not None or gateway is not None:
        d.set_cidr(cidr if cidr is not None else d.cidr, gateway)
    cidr6, gateway6 = p_str(params, "cidr6"), p_str(params, "gateway6")
    if cidr6 is not None or gateway6 is not None:
        d.set_cidr6(cidr6 if cidr6 is not None else d.cidr6, gateway6)
    autostart = p_bool(params, "autostart")
    if autostart is not None:
        d.autostart = autostart
    mtu = p_int(params, "mtu", lo=1280, hi=65520)
    if mtu is not None:
        d.settings["mtu"] = str(mtu)
    comments = p_str(params, "comments")
    if comments is not None:
        d.comments = "".join(f"{line}\n" for line in comments.splitlines())
    slaves = p_str(params, "slaves")
    if slaves is not None:
        d.settings["slaves"] = " ".join(sorted(ifs.split_ports(slaves)))
    mode = p_enum(params, "bond_mode", BOND_MODES)
    if mode is not None:
        d.settings["bond_mode"] = mode
    policy = p_enum(params, "bond_xmit_hash_policy", ("layer2", "layer2+3", "layer3+4"))
    if policy is not None:
        d.settings["bond_xmit_hash_policy"] = policy
    primary = p_str(params, "bond-primary")
    if primary is not None:
        d.settings["bond-primary"] = primary
    ports = p_str(params, "bridge_ports")
    if ports is not None:
        d.settings["bridge_ports"] = " ".join(ifs.split_ports(ports))
    vlan_aware = p_bool(params, "bridge_vlan_aware")
    if vlan_aware is not None:
        if vlan_aware:
            d.settings["bridge_vlan_aware"] = "1"
        else:
            d.settings.pop("bridge_vlan_aware", None)
    for key in ("bridge_vids", "vlan-raw-device", "vlan-protocol", "ovs_bridge", "ovs_options", "ovs_bonds",
                "ovs_ports", "ovs_tag"):
        v = p_str(params, key)
        if v is not None:
            d.settings[key] = v
    vlan_id = p_int(params, "vlan-id", lo=1, hi=4094)
    if vlan_id is not None:
        d.settings["vlan-id"] = str(vlan_id)


def _delete(d: ifs.Iface, params: dict[str, Any]) -> None:
    for key in (p_str(params, "delete") or "").split(","):
        key = key.strip()
        if not key:
            continue
        if key in ("cidr", "address", "netmask"):
            d.set_cidr(None)
        elif key == "gateway":
            d.gateway = None
        elif key in ("cidr6", "address6", "netmask6"):
            d.set_cidr6(None)
        elif key == "gateway6":
            d.gateway6 = None
        elif key == "comments":
            d.comments = ""
        elif key == "autostart":
            d.autostart = False
        else:
            d.settings.pop(key, None)


def _save_staged(ctx: Ctx, node: str, cfg: ifs.InterfacesConfig, d: ifs.Iface) -> None:
    try:
        if d.gateway:
            ifs.check_duplicate_gateway(cfg, d.name)
        if d.gateway6:
            ifs.check_duplicate_gateway(cfg, d.name, ipv6=True)
    except ifs.InterfacesError as exc:
        raise param_error("gateway6" if "ipv6" in str(exc) else "gateway", str(exc)) from None
    try:
        text = ifs.write(cfg)
    except ifs.InterfacesError as exc:
        raise ApiError(500, str(exc)) from None
    _write_atomic(_paths(ctx, node)[1], text)


@route("POST", "/nodes/{node}/network")
def create(ctx: Ctx, params: dict[str, Any]) -> None:
    node = params["node"]
    require_node(ctx, node)
    name = p_req(params, "iface")
    kind = p_enum(params, "type", TYPES)
    if kind is None:
        raise param_error("type", "property is missing and it is not optional")
    if kind == "bond" and not name.startswith("bond"):
        raise param_error("iface", f"invalid bond name '{name}' - must be 'bondN'")
    with ctx.store.tx():
        cfg = load(ctx, node)
        if name in cfg:
            raise param_error("iface", "interface already exists")
        d = ifs.Iface(name=name, type=kind, families=["inet"], method="manual", method6="manual")
        _apply_params(d, params)
        if kind == "bond":
            d.settings.setdefault("bond_mode", "balance-rr")
            d.settings.setdefault("bond_miimon", "100")
        if kind == "bridge":
            d.settings.setdefault("bridge_ports", "")
        if kind == "vlan" and "vlan-raw-device" not in d.settings and "." not in name:
            raise param_error("vlan-raw-device", "vlan-raw-device must be set for vlan interfaces not named "
                              "<parent>.<id>")
        cfg.add(d)
        _save_staged(ctx, node, cfg, d)


@route("PUT", "/nodes/{node}/network/{iface}")
def update(ctx: Ctx, params: dict[str, Any]) -> None:
    node = params["node"]
    require_node(ctx, node)
    name = p_req(params, "iface")
    p_enum(params, "type", TYPES)
    with ctx.store.tx():
        cfg = load(ctx, node)
        d = cfg.get(name)
        if d is None:
            raise param_error("iface", "interface does not exist")
        _delete(d, params)
        _apply_params(d, params)
        _save_staged(ctx, node, cfg, d)


@route("DELETE", "/nodes/{node}/network/{iface}")
def delete(ctx: Ctx, params: dict[str, Any]) -> None:
    node = params["node"]
    require_node(ctx, node)
    name = p_req(params, "iface")
    with ctx.store.tx():
        cfg = load(ctx, node)
        if name not in cfg:
            raise param_error("iface", "interface does not exist")
        phys, _ = _nics(ctx, node)
        cfg.remove(name)
        if name in phys:  # a NIC's stanza goes, the NIC stays (as inet manual)
            cfg.ifaces[name] = ifs.Iface(name=name, type="eth")
        try:
            text = ifs.write(cfg)
        except ifs.InterfacesError as exc:
            raise ApiError(500, str(exc)) from None
        _write_atomic(_paths(ctx, node)[1], text)


def reload(ctx: Ctx, node: str) -> str:
    """``ifreload -a``: the staged file becomes the running configuration."""
    with ctx.store.tx():
        cur, new = _paths(ctx, node)
        staged = _read(new)
        if staged is not None:
            phys, _ = _nics(ctx, node)
            try:
                ifs.validate(ifs.parse(staged, phys))
            except ifs.InterfacesError as exc:
                raise ApiError(500, f"Network configuration is invalid: {exc}") from None
            new.replace(cur)
        _mark_reachability(ctx, node)
        return task(ctx, node, "srvreload", "networking", "reload network configuration with ifreload -a\n")


def _mark_reachability(ctx: Ctx, node: str) -> None:
    """A running network without the node's management address (the one the controller
    reaches it on) cuts the node off until a later reload brings the address back."""
    row = ctx.store.one("SELECT ip FROM nodes WHERE name = ?", (node,))
    marker = ctx.paths.cut_off(node)
    if row is not None and str(row["ip"]) not in node_addresses(ctx, node):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    else:
        marker.unlink(missing_ok=True)


@route("PUT", "/nodes/{node}/network")
def apply(ctx: Ctx, params: dict[str, Any]) -> str:
    node = params["node"]
    require_node(ctx, node)
    return reload(ctx, node)


@route("DELETE", "/nodes/{node}/network")
def revert(ctx: Ctx, params: dict[str, Any]) -> None:
    node = params["node"]
    require_node(ctx, node)
    with ctx.store.tx():
        _, new = _paths(ctx, node)
        new.unlink(missing_ok=True)
