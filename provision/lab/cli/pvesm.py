"""``pvesm add|set|remove|status``: ``/etc/pve/storage.cfg`` from the node shell."""

from __future__ import annotations

from provision.lab.cli.common import fail, node_context, options_as_params, parse_args
from provision.lab.registry import call

FLAGS = frozenset({"disable", "shared", "krbd", "sparse", "enabled", "fuse"})


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("help", "-h", "--help"):
        print("USAGE: pvesm <add|set|remove|status> ...")
        return 0
    sub, rest = argv[0], argv[1:]
    with node_context(["pvesm", *argv]) as ctx:
        args = parse_args(rest, FLAGS)
        params = options_as_params(args)
        if sub in ("add", "create"):
            params.update(type=args.pos(0, "type"), storage=args.pos(1, "storage"))
            call(ctx, "POST", "/storage", params)
            return 0
        if sub == "set":
            call(ctx, "PUT", f"/storage/{args.pos(0, 'storage')}", params)
            return 0
        if sub in ("remove", "delete"):
            call(ctx, "DELETE", f"/storage/{args.pos(0, 'storage')}", {})
            return 0
        if sub == "status":
            rows = call(ctx, "GET", "/cluster/resources", {"type": "storage"})
            print(f"{'Name':<16} {'Type':<8} {'Status':<10} {'Total':>14} {'Used':>14} {'Available':>14} {'%':>7}")
            for r in rows:
                if r["node"] != ctx.node:
                    continue
                if params.get("storage") and r["storage"] != params["storage"]:
                    continue
                total, used = r["maxdisk"] // 1024, r["disk"] // 1024
                pct = 100.0 * used / total if total else 0.0
                status = "active" if r["status"] == "available" else "inactive"
                print(f"{r['storage']:<16} {r['plugintype']:<8} {status:<10} {total:>14} {used:>14} "
                      f"{total - used:>14} {pct:>6.2f}%")
            return 0
        fail(f"unknown command 'pvesm {sub}'")
