"""``pveceph``: install/init/mon/mgr/mds/osd/pool/fs/status (pve-manager ``PVE/CLI/pveceph.pm``)."""

from __future__ import annotations

from typing import Any

from provision.lab.cli.common import (
    EXIT_ERROR,
    Args,
    fail,
    node_context,
    options_as_params,
    parse_args,
    print_json,
    print_task_log,
)
from provision.lab.cli.pvesh import _print
from provision.lab.ops import ceph, packages
from provision.lab.registry import Ctx, call

FLAGS = frozenset({"disable_cephx", "hotstandby", "encrypted", "cleanup", "add_storages", "add-storage", "force",
                   "remove_storages", "remove_ecprofile", "remove-pools", "remove-storages", "allow-experimental",
                   "noproxy"})
ALIASES = {
    "createmon": ["mon", "create"], "destroymon": ["mon", "destroy"], "createmgr": ["mgr", "create"],
    "destroymgr": ["mgr", "destroy"], "createosd": ["osd", "create"], "destroyosd": ["osd", "destroy"],
    "createpool": ["pool", "create"], "destroypool": ["pool", "destroy"], "lspools": ["pool", "ls"],
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("help", "-h", "--help"):
        print("USAGE: pveceph <install|init|mon|mgr|mds|osd|pool|fs|status|start|stop|purge> ...")
        return 0
    if argv[0] in ALIASES:
        argv = ALIASES[argv[0]] + argv[1:]
    with node_context(["pveceph", *argv]) as ctx:
        return _dispatch(ctx, argv)


def _base(ctx: Ctx) -> str:
    return f"/nodes/{ctx.node}/ceph"


def _task(ctx: Ctx, method: str, path: str, params: dict[str, Any], *, upid_exit: bool = True) -> int:
    """Run a worker in the foreground. ``pveceph mon|mgr|mds|osd`` pass the UPID to
    ``$upid_exit`` and exit 255 (``exit(-1)``) when the task failed; ``pool`` and ``fs``
    have no such hook and exit 0 whatever the task did (pve-manager ``PVE/CLI/pveceph.pm``
    ``$cmddef``)."""
    failed = print_task_log(ctx, call(ctx, method, path, params))
    return EXIT_ERROR if failed and upid_exit else 0


def _dispatch(ctx: Ctx, argv: list[str]) -> int:
    group, rest = argv[0], argv[1:]
    base = _base(ctx)
    if group == "install":
        return _install(ctx, parse_args(rest, FLAGS))
    if group == "init":
        packages.require_ceph(ctx, ctx.node, "init")
        call(ctx, "POST", f"{base}/init", options_as_params(parse_args(rest, FLAGS)))
        return 0
    if group == "status":
        data = ceph.ceph_status(ctx) if ctx.store.get_file("ceph.conf") is not None else None
        if data is None:
            fail("pveceph configuration not initialized")
        call(ctx, "GET", f"{base}/status", {})
        print(f"  cluster:\n    id:     {data['fsid']}\n    health: {data['health']['status']}\n")
        for name, check in sorted(data["health"]["checks"].items()):
            print(f"            {name}: {check['summary']['message']}")
        return 0
    if group in ("start", "stop", "purge"):
        return 0
    if not rest:
        fail(f"400 not enough arguments\nusage: pveceph {group} <subcommand>")
    action, rest = rest[0], rest[1:]
    args = parse_args(rest, FLAGS)
    params = options_as_params(args)
    if group == "mon":
        if action == "create":
            monid = params.pop("monid", ctx.node)
            return _task(ctx, "POST", f"{base}/mon/{monid}", params)
        if action == "destroy":
            return _task(ctx, "DELETE", f"{base}/mon/{args.pos(0, 'monid')}", params)
    if group == "mgr":
        if action == "create":
            return _task(ctx, "POST", f"{base}/mgr/{params.pop('id', ctx.node)}", params)
        if action == "destroy":
            return _task(ctx, "DELETE", f"{base}/mgr/{args.pos(0, 'id')}", params)
    if group == "mds":
        if action == "create":
            return _task(ctx, "POST", f"{base}/mds/{params.pop('name', ctx.node)}", params)
        if action == "destroy":
            return _task(ctx, "DELETE", f"{base}/mds/{args.pos(0, 'name')}", params)
    if group == "osd":
        if action == "create":
            params["dev"] = args.pos(0, "dev")
            return _task(ctx, "POST", f"{base}/osd", params)
        if action == "destroy":
            return _task(ctx, "DELETE", f"{base}/osd/{args.pos(0, 'osdid')}", params)
        if action == "details":
            _print(call(ctx, "GET", f"{base}/osd", {}), "json")
            return 0
    if group == "pool":
        return _pool(ctx, action, args, params)
    if group == "fs":
        if action == "create":
            return _task(ctx, "POST", f"{base}/fs/{params.pop('name', 'cephfs')}", params, upid_exit=False)
        if action == "destroy":
            return _task(ctx, "DELETE", f"{base}/fs/{args.pos(0, 'name')}", params, upid_exit=False)
    fail(f"unknown command 'pveceph {group} {action}'")


def _install(ctx: Ctx, args: Args) -> int:
    """`pveceph install`: the repository file, then the packages (pve-manager PVE/CLI/pveceph.pm)."""
    releases = packages.CEPH_RELEASES[ctx.pve_version]
    version = args.pop("version") or packages.DEFAULT_RELEASE[ctx.pve_version]
    repos = packages.REPOSITORIES + (("manual",) if ctx.pve_version >= 9 else ())
    repo = args.pop("repository") or "enterprise"
    for name, value, allowed in (("version", version, tuple(sorted(releases))), ("repository", repo, repos)):
        if value not in allowed:
            fail(f"400 Parameter verification failed.\n{name}: value '{value}' does not have a value in the "
                 f"enumeration '{', '.join(allowed)}'")
    cdn = "https://enterprise.proxmox.com" if repo == "enterprise" else "http://download.proxmox.com"
    apt = ctx.paths.node_root(ctx.node) / "etc" / "apt" / "sources.list.d"
    if repo != "manual":
        apt.mkdir(parents=True, exist_ok=True)
        if ctx.pve_version >= 9:
            (apt / "ceph.sources").write_text(
                f"Types: deb\nURIs: {cdn}/debian/ceph-{version}\nSuites: trixie\nComponents: {repo}\n"
                "Signed-By: /usr/share/keyrings/proxmox-archive-keyring.gpg\n")
        else:
            (apt / "ceph.list").write_text(f"deb {cdn}/debian/ceph-{version} bookworm {repo}\n")
    with ctx.store.tx():
        packages.install(ctx.store, ctx.node, packages.ceph_packages(ctx.pve_version, version))
    release = releases[version].split("-")[0].rsplit(".", 1)[0]
    print(f"update available package list\nstart installation\n\ninstalled Ceph {release} {version.title()} "
          "successfully!\n\nreloading API to load new Ceph RADOS library...")
    return 0


def _pool(ctx: Ctx, action: str, args: Args, params: dict[str, Any]) -> int:
    base = _base(ctx)
    fmt = params.pop("output-format", "text")
    if action in ("ls", "list"):
        pools = call(ctx, "GET", f"{base}/pool", {})
        if fmt in ("json", "json-pretty"):
            print_json(pools, pretty=fmt == "json-pretty")
        else:
            cols = ("pool_name", "size", "min_size", "pg_num", "pg_num_min", "pg_num_final", "pg_autoscale_mode",
                    "crush_rule_name")
            print(" ".join(cols))
            for p in pools:
                print(" ".join(str(p.get(c, "")) for c in cols))
        return 0
    name = args.pos(0, "name")
    if action == "create":
        params["name"] = name
        return _task(ctx, "POST", f"{base}/pool", params, upid_exit=False)
    if action == "set":
        return _task(ctx, "PUT", f"{base}/pool/{name}", params, upid_exit=False)
    if action == "get":
        data = call(ctx, "GET", f"{base}/pool/{name}", {})
        _print(data, "json" if fmt == "json" else "text")
        return 0
    if action == "destroy":
        return _task(ctx, "DELETE", f"{base}/pool/{name}", params, upid_exit=False)
    fail(f"unknown command 'pveceph pool {action}'")
