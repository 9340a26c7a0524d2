"""``pvecm``: create/add/delnode/expected/status/nodes/qdevice, as in pve-cluster's ``pvecm.pm``."""

from __future__ import annotations

import getpass
import ipaddress
import sys
import time

from provision.lab import real, ssh, topology
from provision.lab.cli.common import fail, node_context, options_as_params, parse_args, print_task_log
from provision.lab.formats.corosync import ClusterConf
from provision.lab.ops import cluster
from provision.lab.real import corosync, state
from provision.lab.registry import Ctx, call

FLAGS = frozenset({"use_ssh", "force", "silent", "unmerge-known-hosts"})


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("help", "-h", "--help"):
        print("USAGE: pvecm <add|addnode|apiver|create|delnode|expected|nodes|qdevice|status|updatecerts> ...")
        return 0
    sub, rest = argv[0], argv[1:]
    with node_context(["pvecm", *argv]) as ctx:
        if sub == "create":
            args = parse_args(rest, FLAGS)
            params = options_as_params(args)
            params["clustername"] = args.pos(0, "clustername")
            upid = call(ctx, "POST", "/cluster/config", params)
            print_task_log(ctx, upid)
            return 0
        if sub == "add":
            return _add(ctx, rest)
        if sub == "addnode":
            args = parse_args(rest, FLAGS)
            params = options_as_params(args)
            params["node"] = args.pos(0, "node")
            call(ctx, "POST", f"/cluster/config/nodes/{params['node']}", params)
            return 0
        if sub == "delnode":
            args = parse_args(rest, FLAGS)
            target = args.pos(0, "node")
            call(ctx, "DELETE", f"/cluster/config/nodes/{target}", {})
            print(f"Killing node {target}")
            return 0
        if sub == "expected":
            args = parse_args(rest)
            votes = args.pos(0, "expected")
            if not votes.isdigit():
                fail(f"400 Parameter verification failed.\nexpected: type check ('integer') failed - got '{votes}'")
            if real.enabled(ctx.paths.root):
                return _real_tool(ctx, ["corosync-quorumtool", "-e", votes])
            cluster.set_expected(ctx, int(votes))
            return 0
        if sub == "status":
            return _status(ctx)
        if sub == "nodes":
            return _nodes(ctx)
        if sub == "qdevice":
            args = parse_args(rest, FLAGS)
            action = args.pos(0, "subcommand")
            if action == "setup":
                address = args.pos(1, "address")
                try:
                    ipaddress.ip_address(address)
                except ValueError:
                    fail(f"400 Parameter verification failed.\naddress: value '{address}' does not look like a "
                         "valid IP address")
                cluster.qdevice_setup(ctx, address, args.pop("force") == "1")
                return 0
            if action == "remove":
                cluster.qdevice_remove(ctx)
                return 0
            fail(f"unknown command 'pvecm qdevice {action}'")
        if sub == "updatecerts":
            return 0
        if sub == "apiver":
            print(cluster.JOIN_API_VERSION)
            return 0
        fail(f"unknown command 'pvecm {sub}'")


def _require_ssh_trust(ctx: Ctx, host: str) -> None:
    """`--use_ssh` runs ssh-copy-id and `ssh -o BatchMode=yes` to the peer, without a terminal."""
    row = ctx.store.one("SELECT name FROM nodes WHERE ip = ?", (host,))
    why = ssh.trust_error(ctx.paths, ctx.node, str(row["name"]), host) if row else f"ssh: connect to host {host}"
    if why:
        fail(f"{why}\nunable to copy ssh ID: command 'ssh-copy-id -i /root/.ssh/id_rsa root@{host}' failed: "
             "exit code 1")


def _add(ctx: Ctx, rest: list[str]) -> int:
    """``pvecm add <host>``: join this node; without ``--use_ssh`` PVE asks for the peer's password."""
    args = parse_args(rest, FLAGS)
    host = args.pos(0, "hostname")
    use_ssh = args.pop("use_ssh") == "1"
    params = options_as_params(args)
    params["hostname"] = host
    check_fp = False
    if use_ssh:
        _require_ssh_trust(ctx, host)
    else:
        if sys.stdin.isatty():
            password = getpass.getpass(f"Please enter superuser (root) password for '{host}': ")
        else:
            password = sys.stdin.readline().strip()
        if not password:
            fail("unable to read password for the peer - use --use_ssh or run interactively")
        params["password"] = password
        check_fp = "fingerprint" in params
        if not check_fp:
            params["fingerprint"] = "-"
    upid = cluster.join(ctx, params, check_fingerprint=check_fp)
    print_task_log(ctx, upid)
    return 0


def _status(ctx: Ctx) -> int:
    conf = cluster.read_conf(ctx)
    if conf is None or conf.node(ctx.node) is None:
        fail("Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?", 2)
    header = [
        "Cluster information", "-------------------",
        f"{'Name:':<17} {conf.cluster_name}",
        f"{'Config Version:':<17} {conf.config_version}",
        f"{'Transport:':<17} knet",
        f"{'Secure auth:':<17} {conf.secauth or 'on'}",
        "",
    ]
    if real.enabled(ctx.paths.root):  # pvecm.pm prints the totem part, then execs the real tool
        print("\n".join(header), flush=True)
        return _real_tool(ctx, ["corosync-quorumtool", "-siH"])
    t = topology.load(ctx.store)
    part = t.partition_of(ctx.node)
    me = conf.node(ctx.node)
    assert part is not None and me is not None
    ips = {r["name"]: r["ip"] for r in ctx.store.query("SELECT name, ip FROM nodes")}
    # corosync-quorumtool prints every flag followed by a space
    flags = ("Quorate " if part.quorate else "") + ("Qdevice " if conf.qdevice is not None else "")
    lines = [
        *header,
        "Quorum information", "------------------",
        f"{'Date:':<17} {time.asctime()}",  # ctime(3): day of month space-padded
        f"{'Quorum provider:':<17} corosync_votequorum",
        f"{'Nodes:':<17} {len(part.nodes)}",
        f"{'Node ID:':<17} 0x{me.nodeid:08x}",
        f"{'Ring ID:':<17} {min(n.nodeid for n in conf.nodes if n.name in part.nodes)}.{conf.config_version:x}",
        f"{'Quorate:':<17} {'Yes' if part.quorate else 'No'}",
        "",
        "Votequorum information", "----------------------",
        f"{'Expected votes:':<17} {part.expected}",
        f"{'Highest expected:':<17} {part.expected}",
        f"{'Total votes:':<17} {part.votes}",
        f"{'Quorum:':<17} {part.quorum} {' ' if part.quorate else 'Activity blocked'}",
        f"{'Flags:':<17} {flags}",
    ]
    print("\n".join(lines))
    names = {n.name: n.addrs.get(0, ips.get(n.name, n.name)) for n in conf.nodes}
    _membership(ctx, conf, part, names, hex_ids=True)
    return 0


def _membership(ctx: Ctx, conf: ClusterConf, part: topology.Partition, names: dict[str, str],
                *, hex_ids: bool) -> None:
    """corosync-quorumtool's node table (``-siH`` for status, ``-l`` for nodes).

    Columns are right-aligned to 10 characters plus a space; with a registered QDevice a
    ``Qdevice`` column (``A|NA,V|NV,NMW``) and a node-id-0 ``Qdevice`` row are added.
    """

    def col(value: object) -> str:
        return f"{value!s:>10} "

    def nodeid(n: int) -> str:
        return f"0x{n:08x} " if hex_ids else col(n)

    qdev = conf.qdevice is not None
    alive = bool(ctx.store.get_meta("qnetd_up", True))
    casts = part.qdevice_votes > 0
    print("\nMembership information\n----------------------")
    print(col("Nodeid") + col("Votes") + (col("Qdevice") if qdev else "") + "Name")
    for n in sorted(conf.nodes, key=lambda n: n.nodeid):
        if n.name not in part.nodes:
            continue
        row = nodeid(n.nodeid) + col(n.votes)
        if qdev:
            row += col(f"{'A' if alive else 'NA'},{'V' if casts else 'NV'},NMW")
        print(row + names[n.name] + (" (local)" if n.name == ctx.node else ""))
    if qdev and conf.qdevice is not None:
        total = 1 if conf.qdevice.votes is not None else max(len(conf.nodes) - 1, 1)
        print(nodeid(0) + col(part.qdevice_votes if casts else 0) + "           Qdevice"
              + ("" if casts else f" (votes {total})"))


def _nodes(ctx: Ctx) -> int:
    conf = cluster.read_conf(ctx)
    if conf is None or conf.node(ctx.node) is None:
        fail("Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?", 2)
    if real.enabled(ctx.paths.root):
        return _real_tool(ctx, ["corosync-quorumtool", "-l"])
    t = topology.load(ctx.store)
    part = t.partition_of(ctx.node)
    if part is None:
        fail("Cannot initialize CMAP service", 1)
    _membership(ctx, conf, part, {n.name: n.name for n in conf.nodes}, hex_ids=False)
    return 0


def _real_tool(ctx: Ctx, argv: list[str]) -> int:
    """Run a corosync tool on this node's real corosync; its output and exit code are pvecm's."""
    proc = corosync.tool(state.load(ctx.paths.root), ctx.node, argv)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode
