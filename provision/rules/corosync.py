"""Corosync links: redundancy, separation from other traffic, bonds and crypto
(pvecm.adoc: "Cluster Network", "Corosync Over Bonds", "Corosync Redundancy")."""

from __future__ import annotations

from collections.abc import Iterator

from provision.rules.registry import Hit, rule
from provision.rules.topology import (
    bonds_under,
    carrier,
    carrier_in,
    link_loc,
    physical_ports,
    primary_link,
    shares_guest_traffic,
)
from provision.spec import Cluster, CorosyncLink, Node

# Bond modes pvecm.adoc advises against for corosync (load balancing can send part of
# the packets into a dead port whose link stays up: asymmetric connectivity, fencing).
BAD_BOND_MODES = ("balance-rr", "balance-xor", "broadcast", "balance-tlb", "balance-alb")


def _carrier_name(node: Node, link: CorosyncLink) -> str | None:
    ip = link.addresses.get(node.name)
    found = carrier(node, ip) if ip is not None else None
    return found[1].name if found else None


def _exposed_links(c: Cluster) -> list[CorosyncLink]:
    """Links whose traffic matters for sharing checks: the link knet uses while all
    work. pvecm.adoc explicitly endorses shared networks as *low-priority fallback*
    links, so only the primary link is judged."""
    return [primary_link(c.corosync)]


@rule("PVE-C001", "warning", "Single Corosync link on a non-bonded interface")
def single_link(c: Cluster) -> Iterator[Hit]:
    """With one link, a failed NIC, cable or switch port isolates the node: it loses
    quorum and, with HA resources, fences itself after about a minute. Proxmox
    recommends a second link on a different physical network; a bond under the only
    link at least survives a port failure.

    Fix: add a second `corosync.links` entry on another network and NIC (it may be a
    low-priority link over a busier network), or run the link over a bond.
    """
    if len(c.corosync.links) != 1:
        return
    link = c.corosync.links[0]
    bare = []
    for node in c.nodes:
        name = _carrier_name(node, link)
        if name is not None and not bonds_under(node, name):
            bare.append(f"{node.name}/{name}")
    if bare:
        yield Hit(
            link_loc(c.corosync, link),
            f"corosync has a single link and it runs on non-bonded interfaces ({', '.join(bare)}): "
            "one failed port isolates a node",
            "add a second link on a separate network (link 1, lower priority)",
        )


@rule("PVE-C002", "warning", "Corosync shares a network with Ceph")
def shares_ceph(c: Cluster) -> Iterator[Hit]:
    """Corosync needs low, steady latency; Ceph recovery and rebalancing saturate
    links. On a shared network, recovery traffic delays totem tokens, nodes drop
    out of quorum and HA fences them, which triggers more recovery. pvecm.adoc: "do
    not use a shared network for corosync and storage (except as a potential
    low-priority fallback in a redundant configuration)". Checked for the link knet
    prefers: the same subnet as the Ceph public/cluster network, or the same physical
    ports on any node.

    Fix: run the primary Corosync link on its own NIC and subnet; keep the Ceph
    network as a lower-priority second link at most.
    """
    ceph = c.ceph
    if ceph is None:
        return
    nets = [("public", ceph.public_network)]
    if ceph.cluster_network is not None:
        nets.append(("cluster", ceph.cluster_network))
    for link in _exposed_links(c):
        reasons = [f"its network {link.network} overlaps the Ceph {kind} network {net}"
                   for kind, net in nets if link.network.overlaps(net)]
        if not reasons:
            for node in c.nodes:
                name = _carrier_name(node, link)
                if name is None:
                    continue
                ports = physical_ports(node, name)
                for kind, net in nets:
                    found = carrier_in(node, net)
                    if found is not None and ports & physical_ports(node, found[1].name):
                        reasons.append(f"on {node.name} {name} and the Ceph {kind} interface {found[1].name} "
                                       f"share {', '.join(sorted(ports & physical_ports(node, found[1].name)))}")
                        break
                if reasons:
                    break
        if reasons:
            yield Hit(
                link_loc(c.corosync, link),
                f"corosync link {link.number} (the one in use) shares Ceph's network: {reasons[0]}",
                "give corosync a dedicated NIC and subnet; keep shared networks as lower-priority links",
            )


@rule("PVE-C003", "warning", "Corosync shares a network with guest traffic")
def shares_guests(c: Cluster) -> Iterator[Hit]:
    """A bridge carries guest traffic, which nobody on the cluster side controls: a
    busy or misbehaving VM adds latency and jitter to totem messages, and a
    broadcast storm in a guest network can cost the cluster its quorum. Proxmox
    recommends a dedicated physical NIC for the cluster network; the link knet uses
    while all links work should not go over a bridge or over ports that also serve
    a bridge.

    Fix: move the primary Corosync link to its own NIC (a 1 Gbit port is enough); the
    management bridge can stay as a lower-priority second link.
    """
    for link in _exposed_links(c):
        for node in c.nodes:
            name = _carrier_name(node, link)
            reason = shares_guest_traffic(node, name) if name is not None else None
            if reason:
                yield Hit(
                    link_loc(c.corosync, link),
                    f"corosync link {link.number} (the one in use) shares guest traffic: on {node.name}, {reason}",
                    "use a dedicated NIC for the primary link; a bridge is fine as a lower-priority link",
                )
                break


@rule("PVE-C004", "warning", "Corosync links are not independent")
def links_independent(c: Cluster) -> Iterator[Hit]:
    """A second link only helps if it fails independently: two links in overlapping
    subnets, or over the same physical ports on a node, go down together and the
    redundancy exists only on paper (pvecm.adoc: "every link should be on its own
    physical network connection").

    Fix: put each link on its own subnet and its own NIC (or bond) on every node.
    """
    links = c.corosync.links
    for a in range(len(links)):
        for b in range(a + 1, len(links)):
            la, lb = links[a], links[b]
            if la.network.overlaps(lb.network):
                yield Hit(
                    ("corosync", "links", b, "network"),
                    f"links {la.number} and {lb.number} use overlapping networks {la.network} and {lb.network}",
                    "give every link its own subnet",
                )
                continue
            for node in c.nodes:
                na, nb = _carrier_name(node, la), _carrier_name(node, lb)
                if na is None or nb is None:
                    continue
                common = physical_ports(node, na) & physical_ports(node, nb)
                if common:
                    yield Hit(
                        ("corosync", "links", b),
                        f"on {node.name} links {la.number} ({na}) and {lb.number} ({nb}) share "
                        f"{', '.join(sorted(common))}: they fail together",
                        "run every link over its own NIC or bond",
                    )
                    break


@rule("PVE-C005", "warning", "Bond mode unsuited to Corosync")
def bond_mode(c: Cluster) -> Iterator[Hit]:
    """pvecm.adoc advises against balance-rr, balance-xor, balance-tlb and
    balance-alb for Corosync (broadcast duplicates every packet and has the same
    problem): when one slave stops passing traffic but keeps its link up, these
    modes keep sending part of the packets into it. Nodes then see different
    subsets of the cluster (asymmetric connectivity), no stable quorum forms and
    HA may fence even healthy nodes, in the worst case the whole cluster.

    Fix: use `mode: active-backup` for a bond carrying Corosync, or 802.3ad (LACP)
    with `lacp_rate: fast` on the node and the switch.
    """
    for link in c.corosync.links:
        for ni, node in enumerate(c.nodes):
            name = _carrier_name(node, link)
            if name is None:
                continue
            for bi, bond in bonds_under(node, name):
                if bond.mode in BAD_BOND_MODES:
                    yield Hit(
                        ("nodes", ni, "interfaces", bi, "mode") if "mode" in bond.model_fields_set
                        else ("nodes", ni, "interfaces", bi),
                        f"{node.name}/{bond.name} carries corosync link {link.number} in mode {bond.mode}"
                        + (" (Proxmox's default)" if "mode" not in bond.model_fields_set else ""),
                        "use mode: active-backup (or 802.3ad with lacp_rate: fast)",
                    )


@rule("PVE-C006", "warning", "LACP bond for Corosync without lacp_rate fast")
def lacp_rate(c: Cluster) -> Iterator[Hit]:
    """With the default slow LACP rate a peer sends LACPDUs every 30 seconds, so a
    dead-but-up slave is dropped only after 90 seconds. Nodes with HA resources
    fence themselves after about a minute without stable quorum. pvecm.adoc
    "strongly recommends" `bond-lacp-rate fast` on node and switch (3 s failover).

    Fix: set `lacp_rate: fast` on the bond (and on the switch's LAG ports).
    """
    for link in c.corosync.links:
        for ni, node in enumerate(c.nodes):
            name = _carrier_name(node, link)
            if name is None:
                continue
            for bi, bond in bonds_under(node, name):
                if bond.mode == "802.3ad" and bond.lacp_rate != "fast":
                    yield Hit(
                        ("nodes", ni, "interfaces", bi),
                        f"{node.name}/{bond.name} carries corosync link {link.number} over LACP with the "
                        "slow LACPDU rate: a failed slave is detected after 90 s, nodes fence after ~60 s",
                        "set lacp_rate: fast (and on the switch)",
                    )


@rule("PVE-C007", "warning", "Corosync traffic not encrypted or authenticated")
def crypto_off(c: Cluster) -> Iterator[Hit]:
    """Proxmox runs knet with aes256/sha256. Without a hash, anyone on the cluster
    network can inject totem messages; without a cipher, cluster file system
    contents (including secrets in /etc/pve) cross the wire in clear text.

    Fix: remove `crypto_cipher`/`crypto_hash` from the spec (the defaults aes256 and
    sha256 are what Proxmox writes).
    """
    co = c.corosync
    for field in ("crypto_cipher", "crypto_hash"):
        if field == "crypto_hash" and co.crypto_cipher != "none":
            continue  # a cipher without a hash is PVE-C008, an error
        if getattr(co, field) == "none":
            yield Hit(
                ("corosync", field),
                f"corosync {field} is none: cluster traffic is "
                + ("readable" if field == "crypto_cipher" else "forgeable") + " by anyone on the link network",
                "remove the setting to get Proxmox's default",
            )


@rule("PVE-C008", "error", "Corosync cipher without hash")
def cipher_without_hash(c: Cluster) -> Iterator[Hit]:
    """corosync.conf(5): enabling `crypto_cipher` requires `crypto_hash`; corosync
    refuses to start with a cipher and no hash, so the whole cluster would stop on
    the next restart.

    Fix: set `crypto_hash` (sha256 is the Proxmox default) or drop both settings.
    """
    co = c.corosync
    if co.crypto_cipher != "none" and co.crypto_hash == "none":
        yield Hit(
            ("corosync", "crypto_hash"),
            f"crypto_cipher {co.crypto_cipher} needs a crypto_hash; corosync will not start",
            "set crypto_hash: sha256",
        )
