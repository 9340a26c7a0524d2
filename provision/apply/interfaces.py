"""A node's desired interface set → `/etc/network/interfaces` in PVE's own format.

Why not let Ansible fill a template from raw spec data: the file must be exactly what
PVE's writer (pve-common ``__write_etc_network_interfaces``) would print for the same
interfaces, or every later read-modify-write through the GUI/API would reorder it and
discovery would see churn. The ordering rules (type class + position, name as the tie
breaker) and the per-type line order are encoded here and in
``provision/playbooks/templates/interfaces.j2``; this module only builds sorted stanza records.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# PVE's type classes (``$if_type_hash``); a child interface (`x.N`) sorts after its root.
_TYPE_CLASS = {"loopback": 100000, "eth": 200000, "bond": 400000, "bridge": 500000, "vlan": 600000}
# spec interface kind → PVE type name
_PVE_TYPE = {"nic": "eth", "bond": "bond", "bridge": "bridge", "vlan": "vlan"}


@dataclass
class Stanza:
    """One `iface` block, already normalised to what PVE would write."""

    name: str
    type: str
    position: int
    autostart: bool
    method: str
    address: str | None = None
    gateway: str | None = None
    mtu: int | None = None
    # bridge
    ports: str = ""
    stp: bool = False
    forward_delay: int | None = 0
    vlan_aware: bool = False
    vids: str = "2-4094"
    # bond
    slaves: str = ""
    miimon: int = 100
    mode: str = "balance-rr"
    xmit_hash_policy: str | None = None
    primary: str | None = None
    # everything PVE prints as "other settings" (sorted keys), unknown options, comments
    other: list[tuple[str, str]] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


def pve_type(kind: str) -> str:
    """The type `/nodes/{node}/network` reports for a spec interface kind."""
    return _PVE_TYPE[kind]


def stanzas(interfaces: Sequence[Mapping[str, Any]]) -> list[Stanza]:
    """Build and order the stanzas for a node's full interface set (spec field names)."""
    by_name: dict[str, Stanza] = {}
    for index, raw in enumerate(interfaces):
        st = _stanza(raw, position=index + 2)  # 1 is lo, as in PVE's reader
        by_name[st.name] = st
    # PVE marks every bond slave `auto` when it writes the file.
    for st in by_name.values():
        if st.type == "bond":
            for slave in st.slaves.split():
                if slave in by_name:
                    by_name[slave].autostart = True
    return sorted(by_name.values(), key=lambda s: (_sort_key(s, by_name), s.name))


def _sort_key(st: Stanza, by_name: Mapping[str, Stanza]) -> int:
    root, *rest = st.name.replace(":", ".").split(".")
    root_type = by_name[root].type if root in by_name else st.type
    return _TYPE_CLASS.get(root_type, 0) + len(rest) + st.position


def _stanza(raw: Mapping[str, Any], position: int) -> Stanza:
    kind = str(raw["type"])
    name = str(raw["name"])
    address = raw.get("address")
    comment = raw.get("comment")
    st = Stanza(
        name=name,
        type=_PVE_TYPE[kind],
        position=position,
        autostart=bool(raw.get("autostart", True)),
        method="static" if address else "manual",
        address=str(ipaddress.IPv4Interface(address)) if address else None,
        gateway=str(raw["gateway"]) if raw.get("gateway") else None,
        mtu=int(raw["mtu"]) if raw.get("mtu") else None,
        comments=str(comment).splitlines() if comment else [],
    )
    if kind == "bridge":
        st.ports = " ".join(sorted(raw.get("ports") or []))
        st.stp = bool(raw.get("stp", False))
        fd = int(raw.get("forward_delay", 0) or 0)
        # PVE drops a forward delay outside 2..30 when STP is on.
        st.forward_delay = fd if (not st.stp or 2 <= fd <= 30) else None
        st.vlan_aware = bool(raw.get("vlan_aware", False))
        st.vids = str(raw.get("vids") or "2-4094")
    elif kind == "bond":
        st.slaves = " ".join(sorted(raw.get("slaves") or []))
        st.miimon = int(raw.get("miimon", 100) if raw.get("miimon") is not None else 100)
        st.mode = str(raw.get("mode") or "balance-rr")
        st.xmit_hash_policy = raw.get("xmit_hash_policy")
        st.primary = raw.get("primary")
        if raw.get("lacp_rate"):
            # Not a key PVE knows: it keeps it as an unknown option line.
            st.options.append(f"bond-lacp-rate {raw['lacp_rate']}")
    else:
        other: dict[str, str] = {}
        if st.mtu:
            other["mtu"] = str(st.mtu)
        if kind == "vlan" and "." not in name:
            # Only a named VLAN carries its parent and tag; `x.N` names say it all.
            other["vlan-raw-device"] = str(raw["raw_device"])
            other["vlan-id"] = str(raw["tag"])
        st.other = sorted(other.items())
    return st

