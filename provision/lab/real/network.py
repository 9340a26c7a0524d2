"""Namespaces, bridges and veths of a real lab, and the network faults on them.

Layout (all names start with the lab's prefix, so labs never collide):

- ``<prefix>-sw``: the "switch" namespace. It holds one bridge per corosync link
  (``br<L>``) and ``brm`` for the management network (QNetd). The bridges have no
  physical port, no address and no route; nothing of the lab exists in the root
  namespace, so no lab traffic can leave the machine.
- ``<prefix>-n<i>``: lab node *i*. Its NIC for corosync link L is ``l<L>``, the node end
  of a veth pair whose switch end ``n<i>l<L>`` is a port of ``br<L>``.

Faults act on these ports: ``link-down`` sets the node end down (knet must fail over),
a partition moves the switch ends of each group onto a bridge of its own, and heal moves
them back.
"""

from __future__ import annotations

import ipaddress

from provision.lab.real.host import RealLabError, netns_inode, run
from provision.lab.real.state import RealState

MGMT = "m"  # link key of the management network
CEPH = "c"  # link key of Ceph's public network (real Ceph: MONs, MGRs and OSDs bind there)


def node_ifname(link: str) -> str:
    return f"l{link}"


def port_name(st: RealState, node: str, link: str) -> str:
    return f"n{st.node_index[node]}l{link}"


def bridge_name(link: str, group: int | None = None) -> str:
    return f"br{link}" if group is None else f"br{link}g{group}"


def ensure_namespace(name: str) -> None:
    if netns_inode(name) is None:
        run(["ip", "netns", "add", name])
    run(["ip", "-n", name, "link", "set", "lo", "up"])


def create(st: RealState, nodes: list[str]) -> None:
    """The switch namespace and one empty namespace per lab node (names recorded first)."""
    ensure_namespace(st.switch_ns)
    for i, node in enumerate(nodes, start=1):
        st.node_index[node] = i
        st.node_ns[node] = f"{st.prefix}-n{i}"
        ensure_namespace(st.node_ns[node])


def _ensure_bridge(st: RealState, name: str) -> None:
    have = run(["ip", "-n", st.switch_ns, "link", "show", name], check=False)
    if have.returncode != 0:
        run(["ip", "-n", st.switch_ns, "link", "add", name, "type", "bridge"])
        run(["ip", "-n", st.switch_ns, "link", "set", name, "up"])


def link_prefix(addresses: list[str]) -> int:
    """Prefix length for one link's addresses: /24, or wider when the addresses need it.

    corosync.conf holds bare addresses; the bridge of a link is its own isolated segment,
    so any prefix that covers every member address of that link gives them a route."""
    ips = [ipaddress.ip_address(a) for a in addresses]
    if not ips:
        return 24
    width = ips[0].max_prefixlen
    base = 24 if width == 32 else 64
    net = ipaddress.ip_network(f"{ips[0]}/{base}", strict=False)
    while not all(ip in net for ip in ips):
        net = net.supernet()
    return int(net.prefixlen)


def set_links(st: RealState, wanted: dict[str, dict[str, str]], *, ceph: bool = False) -> None:
    """Make each node's link NICs exactly ``wanted`` ({node: {link: "addr/prefix"}}).

    Corosync's hand-over owns every link but Ceph's public network, which the Ceph
    hand-over owns (``ceph=True``); neither removes the other's NICs."""
    for key, cidr in sorted(st.links.items()):
        node, link = key.split("/")
        if (link == CEPH) != ceph:
            continue
        if wanted.get(node, {}).get(link) != cidr:
            run(["ip", "-n", st.switch_ns, "link", "del", port_name(st, node, link)], check=False)
            del st.links[key]
    for node, links in sorted(wanted.items()):
        for link, cidr in sorted(links.items()):
            key = f"{node}/{link}"
            if key in st.links:
                continue
            try:
                ipaddress.ip_interface(cidr)
            except ValueError:
                raise RealLabError(f"{node}: link {link} address '{cidr}' is not an IP address (the real lab "
                                   "needs literal addresses in corosync.conf)") from None
            _ensure_bridge(st, bridge_name(link))
            port, nic, ns = port_name(st, node, link), node_ifname(link), st.node_ns[node]
            run(["ip", "-n", st.switch_ns, "link", "add", port, "type", "veth", "peer", "name", nic, "netns", ns])
            st.links[key] = cidr
            run(["ip", "-n", st.switch_ns, "link", "set", port, "master", _bridge_of(st, node, link), "up"])
            run(["ip", "-n", ns, "addr", "add", cidr, "dev", nic])
            run(["ip", "-n", ns, "link", "set", nic, "up"])


def _bridge_of(st: RealState, node: str, link: str) -> str:
    """The bridge a node's port belongs on under the current partition.

    A partition cuts the corosync links only: the management network (and Ceph's public
    network) stays whole, so every group still reaches the QNetd host (as ``simulate --partition`` assumes by
    default and the simulated lab models)."""
    if link in (MGMT, CEPH):
        return bridge_name(link)
    for i, group in enumerate(st.partitions):
        if node in group:
            name = bridge_name(link, i)
            _ensure_bridge(st, name)
            return name
    if st.partitions:  # a node named in no group is cut off from every group
        name = bridge_name(link, len(st.partitions))
        _ensure_bridge(st, name)
        return name
    return bridge_name(link)


def set_link_state(st: RealState, node: str, link: str, up: bool) -> bool:
    """Set a node's NIC for ``link`` up or down; False if the node has no such link."""
    if f"{node}/{link}" not in st.links:
        return False
    run(["ip", "-n", st.node_ns[node], "link", "set", node_ifname(link), "up" if up else "down"])
    return True


def partition(st: RealState, groups: list[list[str]]) -> None:
    """Cut the bridge ports so that only nodes of the same group reach each other."""
    st.partitions = [list(g) for g in groups]
    _replug(st)


def heal(st: RealState) -> None:
    """One bridge per link again, and every node NIC up."""
    st.partitions = []
    _replug(st)
    for key in st.links:
        node, link = key.split("/")
        set_link_state(st, node, link, True)


def _replug(st: RealState) -> None:
    for key in sorted(st.links):
        node, link = key.split("/")
        run(["ip", "-n", st.switch_ns, "link", "set", port_name(st, node, link), "master",
             _bridge_of(st, node, link)])


def destroy(st: RealState) -> list[str]:
    """Delete every namespace of the lab (veths and bridges go with them); returns leftovers."""
    left = []
    for ns in st.namespaces():
        if netns_inode(ns) is not None:
            run(["ip", "netns", "del", ns], check=False)
        if netns_inode(ns) is not None:
            left.append(ns)
    return left
