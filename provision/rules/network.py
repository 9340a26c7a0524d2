"""Node networking: MTU, addressing and bonds (independent of what runs on top)."""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from collections.abc import Iterator

from provision.rules.registry import Hit, Loc, rule
from provision.rules.topology import kernel_mtu
from provision.spec import Bond, Cluster


@rule("PVE-N001", "warning", "MTU differs across nodes on one network")
def mtu_mismatch(c: Cluster) -> Iterator[Hit]:
    """All hosts on one L2 network must use the same MTU. With jumbo frames on some
    nodes only, small packets (pings, corosync heartbeats) pass but large ones are
    dropped: Ceph OSD heartbeats and replication stall, live migration hangs. The
    check compares interfaces whose address lies in the same subnet, using the MTU
    the kernel will use (a VLAN inherits its parent's MTU, a bridge its smallest
    port's).

    Fix: give the interfaces of that subnet the same `mtu` on every node (and make
    sure the switch ports allow it).
    """
    members: dict[ipaddress.IPv4Network, list[tuple[Loc, str, int]]] = defaultdict(list)
    for ni, node in enumerate(c.nodes):
        for ii, iface in enumerate(node.interfaces):
            if iface.address is None:
                continue
            base: Loc = ("nodes", ni, "interfaces", ii)
            loc: Loc = (*base, "mtu") if iface.mtu is not None else base
            members[iface.address.network].append((loc, f"{node.name}/{iface.name}", kernel_mtu(node, iface.name)))
    for network, entries in members.items():
        counts = Counter(mtu for _, _, mtu in entries)
        if len(counts) < 2:
            continue
        # The most common MTU is taken as intended; on a tie, the larger (jumbo was deliberate).
        usual = max(counts, key=lambda m: (counts[m], m))
        others = ", ".join(f"{name} {mtu}" for _, name, mtu in entries if mtu == usual)
        for loc, name, mtu in entries:
            if mtu != usual:
                yield Hit(
                    loc,
                    f"{name} has MTU {mtu} on {network}, but {others}",
                    f"set mtu: {usual} on every interface in {network}",
                )


@rule("PVE-N002", "warning", "Management address on no declared interface")
def management_address(c: Cluster) -> Iterator[Hit]:
    """A node's management address carries the API, SSH and migration traffic. If
    the node declares interfaces but none of them holds that address, writing this
    `/etc/network/interfaces` would remove it and cut the node off (and Ansible with
    it).

    Fix: put the management address (as CIDR) on the bridge or interface that
    carries it, usually `vmbr0`.
    """
    for ni, node in enumerate(c.nodes):
        addressed = [i for i in node.interfaces if i.address is not None]
        if addressed and not any(i.address is not None and i.address.ip == node.address for i in addressed):
            yield Hit(
                ("nodes", ni, "address"),
                f"{node.name}'s management address {node.address} is on none of its declared interfaces",
                f"add address: {node.address}/<prefix> to the interface that carries it (usually vmbr0)",
            )


@rule("PVE-N003", "warning", "Two interfaces of a node in one subnet")
def same_subnet_twice(c: Cluster) -> Iterator[Hit]:
    """Two interfaces with addresses in one subnet give the node two routes to the
    same network: replies leave on whichever interface the kernel picks, ARP answers
    come from the wrong port (ARP flux) and corosync or Ceph may bind to the wrong
    one.

    Fix: keep one interface per subnet; use separate subnets (or VLANs) for separate
    traffic.
    """
    for ni, node in enumerate(c.nodes):
        seen: dict[ipaddress.IPv4Network, str] = {}
        for ii, iface in enumerate(node.interfaces):
            if iface.address is None:
                continue
            net = iface.address.network
            if net in seen:
                yield Hit(
                    ("nodes", ni, "interfaces", ii, "address"),
                    f"{node.name}/{iface.name} is in {net}, like {seen[net]}",
                    "use one interface per subnet",
                )
            else:
                seen[net] = iface.name


@rule("PVE-N004", "info", "Bond with a single slave")
def single_slave_bond(c: Cluster) -> Iterator[Hit]:
    """A bond exists to survive a port, cable or switch failure; with one slave it
    adds a layer of configuration and no redundancy.

    Fix: add a second slave on another NIC (ideally to a second switch), or use the
    NIC directly.
    """
    for ni, node in enumerate(c.nodes):
        for ii, iface in enumerate(node.interfaces):
            if isinstance(iface, Bond) and len(iface.slaves) == 1:
                yield Hit(
                    ("nodes", ni, "interfaces", ii, "slaves"),
                    f"bond {iface.name} on {node.name} has only {iface.slaves[0]}",
                    "add a second slave, ideally cabled to another switch",
                )
