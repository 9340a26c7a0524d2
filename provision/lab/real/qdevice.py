"""A real QNetd host and real ``corosync-qdevice`` daemons for a lab whose corosync.conf
has a ``quorum { device { model: net ... } }`` section.

The QNetd host is one more namespace (``<prefix>-q``) with the QDevice address from
corosync.conf, on the lab's management bridge, where every member also gets its node
address. Certificates follow ``pvecm qdevice setup`` (pve-cluster ``PVE/CLI/pvecm.pm``):
``corosync-qnetd-certutil -i`` on the QNetd host, ``corosync-qdevice-net-certutil -i -c
<qnetd CA>`` on every node, ``-r -n <cluster>`` on one node, ``corosync-qnetd-certutil -s``
to sign, ``-M`` on that node and ``-m -c <p12>`` on the others; then corosync-qdevice is
started on every member. Files move between "hosts" as paths in the lab directory, which
every namespace sees (only /etc/corosync, /run and /var/lib/corosync are private).
"""

from __future__ import annotations

from pathlib import Path

from provision.lab.formats.corosync import ClusterConf
from provision.lab.real import corosync, network, state
from provision.lab.real.host import RealLabError, run
from provision.lab.real.state import RealState

QNETD = "@qnetd"  # its key in the state's node tables: '@' is never part of a PVE node name
DAEMON = "corosync-qdevice"
QNETD_DAEMON = "corosync-qnetd"
NSSDB = Path("qdevice") / "net" / "nssdb"


def add_management(st: RealState, links: dict[str, dict[str, str]], conf: ClusterConf,
                   mgmt: dict[str, str]) -> None:
    """The QNetd host's namespace, and management NICs for it and the members."""
    assert conf.qdevice is not None
    if QNETD not in st.node_ns:
        st.node_ns[QNETD] = f"{st.prefix}-q"
        st.node_index[QNETD] = 0
    network.ensure_namespace(st.node_ns[QNETD])
    addrs = {n.name: mgmt[n.name] for n in conf.nodes if mgmt.get(n.name)}
    addrs[QNETD] = conf.qdevice.host
    try:
        prefix = network.link_prefix(list(addrs.values()))
    except ValueError:
        raise RealLabError(f"QDevice host {conf.qdevice.host!r} is not an IP address") from None
    for who, addr in addrs.items():
        links.setdefault(who, {})[network.MGMT] = f"{addr}/{prefix}"


def qnetd_etc(root: Path) -> Path:
    return state.real_dir(root) / "qnetd" / "etc"


def _qnetd_tool(root: Path, st: RealState, argv: list[str]) -> None:
    run(corosync.private_argv(st.node_ns[QNETD], qnetd_etc(root), argv))


def _ensure_qnetd(root: Path, st: RealState) -> list[str]:
    if corosync.pid_of(st, QNETD, QNETD_DAEMON) is not None:
        return []
    etc = qnetd_etc(root)
    if not (etc / "qnetd" / "nssdb" / "qnetd-cacert.crt").exists():
        etc.mkdir(parents=True, exist_ok=True)
        _qnetd_tool(root, st, ["corosync-qnetd-certutil", "-i"])
    argv = corosync.private_argv(st.node_ns[QNETD], etc, [QNETD_DAEMON, "-f"])
    corosync.spawn(root, st, QNETD, QNETD_DAEMON, argv)
    return ["qnetd: corosync-qnetd started"]


def _certify(root: Path, st: RealState, conf: ClusterConf, nodes: list[str]) -> list[str]:
    """Give every node without a QDevice certificate store one, as pvecm qdevice setup does."""
    todo = [n for n in nodes if not (corosync.etc_dir(root, n) / NSSDB / "cert8.db").exists()
            and not (corosync.etc_dir(root, n) / NSSDB / "cert9.db").exists()]
    if not todo:
        return []
    ca = qnetd_etc(root) / "qnetd" / "nssdb" / "qnetd-cacert.crt"
    for n in todo:
        corosync.tool(st, n, ["corosync-qdevice-net-certutil", "-i", "-c", str(ca)], check=True)
    p12 = next((corosync.etc_dir(root, n) / NSSDB / "qdevice-net-node.p12" for n in nodes
                if (corosync.etc_dir(root, n) / NSSDB / "qdevice-net-node.p12").exists()), None)
    if p12 is None:  # the first node asks qnetd to sign the cluster's certificate
        first = todo[0]
        corosync.tool(st, first, ["corosync-qdevice-net-certutil", "-r", "-n", conf.cluster_name], check=True)
        crq = corosync.etc_dir(root, first) / NSSDB / "qdevice-net-node.crq"
        _qnetd_tool(root, st, ["corosync-qnetd-certutil", "-s", "-c", str(crq), "-n", conf.cluster_name])
        crt = qnetd_etc(root) / "qnetd" / "nssdb" / f"cluster-{conf.cluster_name}.crt"
        corosync.tool(st, first, ["corosync-qdevice-net-certutil", "-M", "-c", str(crt)], check=True)
        p12 = corosync.etc_dir(root, first) / NSSDB / "qdevice-net-node.p12"
        todo = todo[1:]
    for n in todo:
        corosync.tool(st, n, ["corosync-qdevice-net-certutil", "-m", "-c", str(p12)], check=True)
    return [f"{n}: qdevice certificate imported" for n in todo]


def sync(root: Path, st: RealState, conf: ClusterConf | None, running: set[str]) -> list[str]:
    """QNetd and qdevices as corosync.conf says: started when configured, stopped when not."""
    log: list[str] = []
    wanted = conf is not None and conf.qdevice is not None
    for node in sorted(n for n in st.node_ns if n != QNETD):
        if (not wanted or node not in running) and corosync.stop(st, node, DAEMON):
            log.append(f"{node}: corosync-qdevice stopped")
    if not wanted or conf is None:
        return log
    nodes = sorted(n for n in running if corosync.wait_ipc(st, n))
    log += _ensure_qnetd(root, st)
    log += _certify(root, st, conf, nodes)
    for node in nodes:
        if corosync.pid_of(st, node, DAEMON) is None:
            pid = corosync.pid_of(st, node)
            assert pid is not None
            argv = ["nsenter", "-t", str(pid), "-m", "-n", DAEMON, "-f"]
            corosync.spawn(root, st, node, DAEMON, argv)
            log.append(f"{node}: corosync-qdevice started")
    return log
