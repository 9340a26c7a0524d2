"""A stack's interfaces applied to a node's current ``/etc/network/interfaces``.

Why an edit and not a rewrite: the node's file holds more than a stack describes (IPv6
stanzas, ``post-up`` routes, ``hwaddress``, OVS bridges, a NIC on DHCP, ``source``
lines). PVE's own network API edits one interface record and rewrites the file with its
writer, keeping every other record; this module does the same for each interface the stack
manages, so whatever the stack does not name, and every option of a named interface that
the stack does not model, comes out as PVE itself would write it.

Interfaces arrive as plain dicts with the spec's field names (``provision.spec.network``
views, as plan files carry them), because this module runs on the node as Ansible
``module_utils`` and may import nothing but the standard library and its siblings.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from .interfaces import Iface, InterfacesConfig, parse, write

__all__ = ["MANAGED_OPTIONS", "apply_interfaces", "edit_text"]

#: spec interface kind -> PVE's type name
PVE_TYPE = {"nic": "eth", "bond": "bond", "bridge": "bridge", "vlan": "vlan"}

#: Unknown-to-PVE option lines a spec field owns (PVE keeps them verbatim in ``options``).
MANAGED_OPTIONS = {"lacp_rate": ("bond-lacp-rate", "bond_lacp_rate")}


def edit_text(
    current: str,
    interfaces: Sequence[Mapping[str, Any]],
    physical: Iterable[str] = (),
    remove: Collection[str] = (),
) -> str:
    """The file PVE's writer prints after the stack's interfaces are applied to ``current``.

    ``physical`` are the node's NIC names (PVE's reader lists each of them); ``remove`` are
    interfaces to drop (``--prune``): a NIC among them keeps a bare ``inet manual`` stanza,
    as PVE's delete leaves it. Raises ``InterfacesError`` with PVE's message when the result
    breaks one of PVE's write-time checks.
    """
    phys = list(physical)
    cfg = parse(current, phys)
    apply_interfaces(cfg, interfaces, phys, remove)
    return write(cfg)


def apply_interfaces(
    cfg: InterfacesConfig,
    interfaces: Sequence[Mapping[str, Any]],
    physical: Collection[str] = (),
    remove: Collection[str] = (),
) -> None:
    """Edit ``cfg`` in place: set exactly the options each managed interface models."""
    for name in remove:
        if name in cfg and name != "lo":
            cfg.remove(name)
            if name in physical:
                cfg.ifaces[name] = Iface(name=name, type="eth")
    for want in interfaces:
        if want.get("managed") is False:
            continue  # the stack names it only so others may refer to it
        name = str(want["name"])
        kind = PVE_TYPE[str(want["type"])]
        d = cfg.get(name)
        if d is None or d.type != kind:
            fresh = Iface(name=name, type=kind, families=["inet"], method="manual", method6="manual")
            if d is not None:
                fresh.priority = d.priority  # a changed type keeps its place in the file
                del cfg.ifaces[name]
            fresh.autostart = _default_autostart(want)
            cfg.add(fresh)
            d = fresh
        _set_common(d, want)
        if kind == "bond":
            _set_bond(d, want)
        elif kind == "bridge":
            _set_bridge(d, want)
        elif kind == "vlan":
            _set_vlan(d, want)


def _default_autostart(want: Mapping[str, Any]) -> bool:
    # What PVE's GUI does for a new interface and what the spec defaults to.
    return want.get("type") != "nic" or bool(want.get("address"))


def _set(d: Iface, key: str, value: Any) -> None:
    if value is None or value == "":
        d.settings.pop(key, None)
    else:
        d.settings[key] = str(value)


def _set_common(d: Iface, want: Mapping[str, Any]) -> None:
    address, gateway = want.get("address"), want.get("gateway")
    if address:
        if d.cidr != str(address) or d.method != "static":
            d.set_cidr(str(address))
    elif d.address:
        d.set_cidr(None)  # a DHCP or manual stanza without address is left as it is
    d.gateway = str(gateway) if gateway else None
    address6, gateway6 = want.get("address6"), want.get("gateway6")
    if address6:
        if d.cidr6 != str(address6) or d.method6 != "static":
            d.set_cidr6(str(address6))
    elif d.address6:
        d.set_cidr6(None)
    d.gateway6 = str(gateway6) if gateway6 else None
    mtu = want.get("mtu")
    _set(d, "mtu", None if mtu in (None, 1500) else int(mtu))
    if want.get("autostart") is not None:
        d.autostart = bool(want["autostart"])
    comment = want.get("comment")
    d.comments = "".join(f"{line}\n" for line in str(comment).splitlines()) if comment else ""


def _set_bond(d: Iface, want: Mapping[str, Any]) -> None:
    mode = str(want.get("mode") or "balance-rr")
    _set(d, "slaves", " ".join(sorted(want.get("slaves") or [])))
    _set(d, "bond_mode", mode)
    _set(d, "bond_miimon", want.get("miimon", 100))
    _set(d, "bond-primary", want.get("primary") if mode == "active-backup" else None)
    _set(d, "bond_xmit_hash_policy", want.get("xmit_hash_policy") if mode in ("balance-xor", "802.3ad") else None)
    _set_option(d, "lacp_rate", want.get("lacp_rate") if mode == "802.3ad" else None)


def _set_bridge(d: Iface, want: Mapping[str, Any]) -> None:
    _set(d, "bridge_ports", " ".join(sorted(want.get("ports") or [])) or None)
    d.settings.setdefault("bridge_ports", "")  # `bridge-ports none` is what makes it a bridge
    stp = bool(want.get("stp"))
    _set(d, "bridge_stp", "on" if stp else "off")
    _set(d, "bridge_fd", want.get("forward_delay", 0))
    vlan_aware = bool(want.get("vlan_aware"))
    _set(d, "bridge_vlan_aware", "1" if vlan_aware else None)
    _set(d, "bridge_vids", (want.get("vids") or "2-4094") if vlan_aware else None)


def _set_vlan(d: Iface, want: Mapping[str, Any]) -> None:
    if "." in d.name:
        return  # PARENT.TAG says it all; PVE's writer drops raw device and id lines
    _set(d, "vlan-raw-device", want.get("raw_device"))
    # A `vlanN` name carries its tag: PVE's writer drops `vlan-id` for it.
    _set(d, "vlan-id", None if d.name.startswith("vlan") and d.name[4:].isdigit() else want.get("tag"))


def _set_option(d: Iface, field: str, value: Any) -> None:
    """An option line PVE's reader keeps verbatim: replace every spelling of it."""
    spellings = MANAGED_OPTIONS[field]
    d.options = [o for o in d.options if o.split(None, 1)[0] not in spellings]
    if value is not None:
        d.options.append(f"{spellings[0]} {value}")
