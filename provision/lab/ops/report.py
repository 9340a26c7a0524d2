"""`GET /nodes/{node}/report`: the node's system report, as `pvereport` prints it.

pve-manager `PVE/API2/Nodes.pm` `report` (9: ~L1997-2018, 8: ~L1922-1943; Sys.Audit on
/nodes/{node}, proxied to that node) returns `PVE::Report::generate()` as one string:
for each section "\\n==== <title> ====\\n" (a section without a title is "info about
<name>"), then for each command "\\n# <command>\\n" followed by its output, one line at a
time (`PVE/Report.pm` ~L195-236). The lab prints the `hostname` command of the general
section and the cluster section (order 60: `pvecm nodes`, `pvecm status`, `cat
/etc/pve/corosync.conf 2>/dev/null`, `ha-manager status`, `cat /etc/pve/datacenter.cfg`,
~L101-110) with the node's own corosync.conf; the other sections (hardware, disks,
firewall, ...) are left out.
"""

from __future__ import annotations

from typing import Any

from provision.lab.files import COROSYNC, DATACENTER
from provision.lab.ops.common import require_node
from provision.lab.registry import Ctx, route


def _lines(text: str) -> str:
    return "".join(f"{line}\n" for line in text.splitlines())


@route("GET", "/nodes/{node}/report")
def report(ctx: Ctx, params: dict[str, Any]) -> str:
    node = str(params["node"])
    require_node(ctx, node)
    conf = ctx.store.get_file(COROSYNC) or ""
    datacenter = ctx.store.get_file(DATACENTER) or ""
    return (f"\n==== general system info ====\n\n# hostname\n{node}\n"
            "\n==== info about cluster ====\n\n# pvecm nodes\n\n# pvecm status\n"
            f"\n# cat /etc/pve/corosync.conf 2>/dev/null\n{_lines(conf)}"
            "\n# ha-manager status\n"
            f"\n# cat /etc/pve/datacenter.cfg\n{_lines(datacenter)}")
