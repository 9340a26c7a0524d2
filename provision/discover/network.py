"""`/nodes/{node}/network` -> Nic/Bond/Bridge/Vlan.

The API mirrors /etc/network/interfaces: slaves and ports are space-separated
strings, `netmask` and `mtu` are strings, booleans are 0/1, and the bond primary
is spelled `bond-primary` (pve-facts 1.7). Defaults PVE applies when a line is
absent are made explicit here so that an omitted key in a stack and an omitted
line in the file compare equal.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pydantic import ValidationError

from provision.discover._values import as_bool, as_int, split_list, strip_comment
from provision.spec.network import Bond, Bridge, Nic, Vlan

AnyInterface = Nic | Bond | Bridge | Vlan

DEFAULT_BOND_MODE = "balance-rr"  # ifupdown2/PVE writer default when bond-mode is absent
DEFAULT_MIIMON = 100  # PVE writes bond-miimon 100 unless told otherwise
DEFAULT_VIDS = "2-4094"  # bridge-vids default on a VLAN-aware bridge
_NUMERIC_MODES = {
    "0": "balance-rr", "1": "active-backup", "2": "balance-xor", "3": "broadcast",
    "4": "802.3ad", "5": "balance-tlb", "6": "balance-alb",
}


def _address(item: dict[str, Any]) -> ipaddress.IPv4Interface | None:
    """`cidr` when present, else `address` + `netmask` (a prefix length string or,
    on old files, a dotted mask)."""
    cidr = item.get("cidr")
    if cidr:
        return ipaddress.IPv4Interface(str(cidr))
    addr = item.get("address")
    if not addr:
        return None
    mask = str(item.get("netmask") or "32")
    return ipaddress.IPv4Interface(f"{addr}/{mask}")


def _address6(item: dict[str, Any]) -> ipaddress.IPv6Interface | None:
    """`cidr6`, else `address6` + `netmask6` (a prefix length)."""
    cidr = item.get("cidr6")
    if cidr:
        return ipaddress.IPv6Interface(str(cidr))
    addr = item.get("address6")
    return ipaddress.IPv6Interface(f"{addr}/{item.get('netmask6') or 128}") if addr else None


def _option(item: dict[str, Any], *names: str) -> str | None:
    """A value from the `options` array of unrecognised lines (`bond-lacp-rate fast`)."""
    for line in item.get("options") or []:
        key, _, value = str(line).strip().partition(" ")
        if key in names:
            return value.strip()
    return None


def normalise_interface(item: dict[str, Any]) -> AnyInterface | None:
    """One API item -> spec interface, or None for kinds the spec does not model
    (alias, OVS, vnet, fabric, loopback). Raises ValueError on unusable data."""
    kind = item.get("type")
    name = str(item.get("iface"))
    common: dict[str, Any] = {
        "name": name,
        "address": _address(item),
        "gateway": item.get("gateway") or None,
        "address6": _address6(item),
        "gateway6": item.get("gateway6") or None,
        "mtu": as_int(item.get("mtu")),
        # an interface without an `auto`/`allow-hotplug` line is not brought up at boot
        "autostart": as_bool(item.get("autostart"), False),
        "comment": strip_comment(item.get("comments")),
    }
    if kind == "eth":
        return Nic(type="nic", **common)
    if kind == "bond":
        mode = str(item.get("bond_mode") or DEFAULT_BOND_MODE)
        mode = _NUMERIC_MODES.get(mode, mode)
        lacp = item.get("bond_lacp_rate") or item.get("bond-lacp-rate") or _option(
            item, "bond-lacp-rate", "bond_lacp_rate"
        )
        if lacp in ("1", "fast"):
            lacp = "fast"
        elif lacp in ("0", "slow"):
            lacp = "slow"
        xmit = item.get("bond_xmit_hash_policy") or None
        return Bond(
            type="bond",
            slaves=split_list(item.get("slaves") or item.get("bond_slaves"), " ,"),
            mode=mode,
            miimon=as_int(item.get("bond_miimon"), DEFAULT_MIIMON) or 0,
            # PVE only writes bond-primary for active-backup and the hash policy for xor/802.3ad
            primary=(item.get("bond-primary") or item.get("bond_primary") or None)
            if mode == "active-backup" else None,
            xmit_hash_policy=xmit if mode in ("balance-xor", "802.3ad") else None,
            lacp_rate=lacp if mode == "802.3ad" else None,
            **common,
        )
    if kind == "bridge":
        ports = [p for p in split_list(item.get("bridge_ports"), " ,") if p != "none"]
        vlan_aware = as_bool(item.get("bridge_vlan_aware"))
        return Bridge(
            type="bridge",
            ports=ports,
            vlan_aware=vlan_aware,
            vids=str(item.get("bridge_vids") or DEFAULT_VIDS).strip(),
            stp=as_bool(item.get("bridge_stp"), False),  # PVE writes bridge-stp off
            forward_delay=as_int(item.get("bridge_fd"), 0) or 0,  # bridge-fd 0 with STP off
            **common,
        )
    if kind == "vlan":
        raw = item.get("vlan-raw-device") or item.get("vlan_raw_device")
        tag = as_int(item.get("vlan-id") or item.get("vlan_id"))
        if re.fullmatch(r".+\.\d+", name):
            raw, tag = None, None  # derived from the name by the model
        return Vlan(type="vlan", raw_device=raw, tag=tag, **common)
    return None


#: Keys of a `/nodes/{node}/network` item that are kernel state, not file content.
_RUNTIME_KEYS = frozenset({"active", "exists", "altnames"})


def interface_records(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items as file content: runtime state (link up, NIC present) dropped, so that a
    carrier flap does not make a plan stale. NICs (`exists`) are kept as `type` eth."""
    return [{k: v for k, v in item.items() if k not in _RUNTIME_KEYS} for item in data if isinstance(item, dict)]


def normalise_network(data: list[dict[str, Any]], node: str) -> tuple[list[AnyInterface], list[str]]:
    """All interfaces of one node, sorted by name, plus notes for skipped ones."""
    out: list[AnyInterface] = []
    notes: list[str] = []
    for item in data:
        if item.get("type") == "loopback" or item.get("iface") == "lo":
            continue
        try:
            iface = normalise_interface(item)
        except (ValidationError, ValueError) as exc:
            first = str(exc).splitlines()[0]
            notes.append(f'network["{node}"]: interface {item.get("iface")} is not modelled ({first})')
            continue
        if iface is None:
            notes.append(
                f'network["{node}"]: interface {item.get("iface")} of type {item.get("type")} is not managed'
            )
            continue
        out.append(iface)
    return sorted(out, key=lambda i: i.name), notes
