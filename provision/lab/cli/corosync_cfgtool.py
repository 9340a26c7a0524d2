"""``corosync-cfgtool -n``: the local node's view of every other member and its knet links.

Output as corosync's ``tools/corosync-cfgtool.c`` ``nodestatusget_do`` prints it (corosync
3.1.7 = PVE 8 and 3.1.9 = PVE 9 print the same): ``Local node ID N, transport knet``, then
per *reachable* peer ``nodeid: M reachable`` (with knet's onwire versions) and one
``LINK:`` line per enabled link, ``connected`` only when the link works. A peer with no
working link is not printed at all.

A link works in the lab when both ends are powered, in the same partition, the link is not
faulted (``lab link-down``) on either end, and both ends' running network still holds
their link address: a reload that drops a Corosync address takes that link down.
"""

from __future__ import annotations

from provision.lab.cli.common import fail, node_context
from provision.lab.files import COROSYNC, parse_corosync
from provision.lab.ops import network
from provision.lab.registry import Ctx

KNET_MTU = 1397  # what knet reports for a 1500-byte path with crypto (pmtud)


def main(argv: list[str]) -> int:
    if argv != ["-n"]:
        fail("corosync-cfgtool: the lab only answers -n (node and link status)", 1)
    with node_context(["corosync-cfgtool", *argv]) as ctx:
        text = ctx.store.get_file(COROSYNC)
        if not text:
            fail("Could not initialize corosync configuration API error 2", 1)
        conf = parse_corosync(text)
        me = conf.node(ctx.node)
        if me is None:
            fail("Could not initialize corosync configuration API error 2", 1)
        print(f"Local node ID {me.nodeid}, transport knet")
        for peer in sorted(conf.nodes, key=lambda n: n.nodeid):
            if peer.name == me.name:
                continue
            links = [(num, me.addrs[num], peer.addrs[num], _works(ctx, me.name, peer.name, num, me.addrs[num],
                                                                  peer.addrs[num]))
                     for num in sorted(set(me.addrs) & set(peer.addrs))]
            if not any(ok for *_, ok in links):
                continue  # not reachable: corosync-cfgtool leaves it out
            print(f"nodeid: {peer.nodeid} reachable   onwire (min/max/cur): 0, 1, 1")
            for num, src, dst, ok in links:
                print(f"   LINK: {num} udp ({src}->{dst}) enabled{' connected' if ok else ''} mtu: {KNET_MTU}")
            print()
    return 0


def _works(ctx: Ctx, a: str, b: str, link: int, addr_a: str, addr_b: str) -> bool:
    power = {r["name"]: bool(r["power"]) for r in ctx.store.query("SELECT name, power FROM nodes")}
    if not (power.get(a) and power.get(b)):
        return False
    groups: list[list[str]] = ctx.store.get_meta("partitions", []) or []
    group = {n: i for i, g in enumerate(groups) for n in g}
    if group.get(a, -1) != group.get(b, -1):
        return False
    down = {(r["node"], int(r["link"])) for r in ctx.store.query("SELECT node, link FROM corosync_links WHERE up = 0")}
    if (a, link) in down or (b, link) in down:
        return False
    return addr_a in network.node_addresses(ctx, a) and addr_b in network.node_addresses(ctx, b)
