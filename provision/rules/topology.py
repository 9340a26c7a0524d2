"""Questions about a node's interface stack that several rules ask.

Which interface carries an address, which physical ports lie under it, whether it
shares an uplink with guest bridges, what MTU the kernel will really use. Answering
them in one place keeps the rules short and consistent with each other.
"""

from __future__ import annotations

import ipaddress

from provision.spec import Bond, Bridge, CorosyncLink, Node, Vlan
from provision.spec.corosync import Corosync
from provision.spec.network import DEFAULT_MTU, Nic, interface_parents

Iface = Nic | Bond | Bridge | Vlan

#: corosync's default `knet_link_priority` when none is configured.
DEFAULT_LINK_PRIORITY = 1


def by_name(node: Node) -> dict[str, tuple[int, Iface]]:
    """Interfaces of `node` by name, with their index in `node.interfaces`."""
    return {iface.name: (i, iface) for i, iface in enumerate(node.interfaces)}


def carrier(node: Node, ip: ipaddress.IPv4Address) -> tuple[int, Iface] | None:
    """The interface (index, model) holding address `ip`, if declared."""
    for i, iface in enumerate(node.interfaces):
        if iface.address is not None and iface.address.ip == ip:
            return i, iface
    return None


def carrier_in(node: Node, network: ipaddress.IPv4Network) -> tuple[int, Iface] | None:
    """The first interface of `node` with an address inside `network`."""
    for i, iface in enumerate(node.interfaces):
        if iface.address is not None and iface.address.ip in network:
            return i, iface
    return None


def stack(node: Node, name: str) -> list[Iface]:
    """`name` and every declared interface below it (VLAN parent, bond slaves,
    bridge ports), top first."""
    names = by_name(node)
    out: list[Iface] = []
    todo = [name]
    seen: set[str] = set()
    while todo:
        current = todo.pop(0)
        if current in seen or current not in names:
            continue
        seen.add(current)
        iface = names[current][1]
        out.append(iface)
        todo.extend(interface_parents(iface))
    return out


def physical_ports(node: Node, name: str) -> frozenset[str]:
    """Names of the physical ports under `name`. A name that is not declared
    counts as a physical port of its own (the spec may not list every NIC)."""
    names = by_name(node)
    ports: set[str] = set()
    for iface in stack(node, name):
        if isinstance(iface, Nic):
            ports.add(iface.name)
        for below in interface_parents(iface):
            if below not in names:
                ports.add(below)
    if name not in names:
        ports.add(name)
    return frozenset(ports)


def bonds_under(node: Node, name: str) -> list[tuple[int, Bond]]:
    """Bonds in the stack of `name` (itself included), with their indexes."""
    names = by_name(node)
    return [(names[i.name][0], i) for i in stack(node, name) if isinstance(i, Bond)]


def guest_ports(node: Node) -> frozenset[str]:
    """Physical ports that carry guest traffic: everything under a bridge."""
    ports: set[str] = set()
    for iface in node.interfaces:
        if isinstance(iface, Bridge):
            ports |= physical_ports(node, iface.name)
    return frozenset(ports)


def shares_guest_traffic(node: Node, name: str) -> str | None:
    """Why `name` shares its wire with guest traffic (a bridge in its stack, or a
    physical port that also serves a bridge), or None."""
    for iface in stack(node, name):
        if isinstance(iface, Bridge):
            return f"{name} runs over bridge {iface.name}"
    common = physical_ports(node, name) & guest_ports(node)
    if common:
        return f"{name} uses {', '.join(sorted(common))}, which also carries a guest bridge"
    return None


def kernel_mtu(node: Node, name: str, _depth: int = 0) -> int:
    """The MTU the kernel will use for `name`: the configured one, else a VLAN
    inherits its parent's (the kernel copies it at creation) and a bridge takes the
    smallest of its ports'; anything else gets 1500."""
    names = by_name(node)
    if name not in names or _depth > 16:
        return DEFAULT_MTU
    iface = names[name][1]
    if iface.mtu is not None:
        return iface.mtu
    if isinstance(iface, Vlan) and iface.raw_device:
        return kernel_mtu(node, iface.raw_device, _depth + 1)
    if isinstance(iface, Bridge) and iface.ports:
        return min(kernel_mtu(node, p, _depth + 1) for p in iface.ports)
    return DEFAULT_MTU


def link_priority(link: CorosyncLink) -> int:
    return link.priority if link.priority is not None else DEFAULT_LINK_PRIORITY


def primary_link(corosync: Corosync) -> CorosyncLink:
    """The link knet sends on while all links work: the highest priority, and on a
    tie the lowest link number (pvecm.adoc, "Corosync Redundancy")."""
    return min(corosync.links, key=lambda link: (-link_priority(link), link.number))


def link_loc(corosync: Corosync, link: CorosyncLink) -> tuple[str | int, ...]:
    return ("corosync", "links", corosync.links.index(link))
