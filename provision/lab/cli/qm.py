"""``qm list|start|stop|status``: the node's VMs (HA-managed VMs go through the HA stack)."""

from __future__ import annotations

from provision.lab.cli.common import fail, node_context, parse_args
from provision.lab.ops import guests
from provision.lab.registry import call


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("help", "-h", "--help"):
        print("USAGE: qm <list|start|stop|status> [vmid]")
        return 0
    sub, rest = argv[0], argv[1:]
    with node_context(["qm", *argv]) as ctx:
        args = parse_args(rest, frozenset({"full", "verbose", "skiplock", "keepActive"}))
        if sub == "list":
            print(f"{'VMID':>10} {'NAME':<20} {'STATUS':<10} {'MEM(MB)':>10} {'BOOTDISK(GB)':>12} {'PID':<10}")
            for vm in call(ctx, "GET", f"/nodes/{ctx.node}/qemu", {}):
                pid = str(10000 + vm["vmid"]) if vm["status"] == "running" else "0"
                print(f"{vm['vmid']:>10} {vm['name']:<20} {vm['status']:<10} {vm['maxmem'] // 1024**2:>10} "
                      f"{vm['maxdisk'] / 1024**3:>12.2f} {pid:<10}")
            return 0
        if sub in ("start", "stop", "shutdown"):
            vmid = args.pos(0, "vmid")
            if not vmid.isdigit():
                fail(f"400 Parameter verification failed.\nvmid: type check ('integer') failed - got '{vmid}'")
            upid = guests.set_power(ctx, ctx.node, vmid, "qemu", "start" if sub == "start" else "stop")
            if ":ha" in upid:
                print(f"Requesting HA {'start' if sub == 'start' else 'stop'} for VM {vmid}")
            return 0
        if sub == "status":
            vmid = args.pos(0, "vmid")
            cur = call(ctx, "GET", f"/nodes/{ctx.node}/qemu/{vmid}/status/current", {})
            print(f"status: {cur['status']}")
            return 0
        fail(f"unknown command 'qm {sub}'")
