"""``ifreload -a``: make the staged ``/etc/network/interfaces.new`` (if any) the running config.

ifupdown2 itself reloads ``/etc/network/interfaces``; PVE's apply step first moves
``interfaces.new`` into place. The lab does both, since Ansible roles call either.
"""

from __future__ import annotations

from provision.lab.cli.common import fail, node_context
from provision.lab.ops import network


def main(argv: list[str]) -> int:
    if not any(a in ("-a", "--all") for a in argv):
        fail("error: ifreload requires -a (reload all interfaces) in the lab", 1)
    with node_context(["ifreload", *argv]) as ctx:
        network.reload(ctx, ctx.node)
    return 0
