"""Real corosync daemons for the lab's nodes, fed with the lab's corosync.conf.

What PVE does, and the lab repeats with real daemons (docs/lab-contract.md):

- pmxcfs copies /etc/pve/corosync.conf to each node's /etc/corosync/corosync.conf when
  it changes and then runs ``corosync-cfgtool -R`` (cluster-wide reload);
- ``pvecm create``/``add`` start corosync on the new member; ``pvecm delnode`` runs
  ``corosync-cfgtool -k <nodeid>`` to stop the removed node;
- ``pvecm status`` prints the totem settings and execs ``corosync-quorumtool -siH``,
  ``pvecm nodes`` execs ``corosync-quorumtool -l``, ``pvecm expected`` ``-e``.

Each daemon runs in its node's network namespace and in a private mount namespace where
the node's ``etc/corosync`` is bind-mounted on /etc/corosync and /run and
/var/lib/corosync are empty tmpfs, so several corosyncs share one host.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from provision.lab.formats.corosync import ClusterConf
from provision.lab.paths import LabPaths
from provision.lab.real import network, qdevice, state
from provision.lab.real.host import RealLabError, alive, comm, host_env, netns_inode, process_netns_inode, run
from provision.lab.real.state import RealState
from provision.lab.store import Store

# Constant text: the etc dir arrives as "$1" and the program as "$@", never spliced in.
_PRIVATE = ('etc="$1"; shift; mount --bind "$etc" /etc/corosync && mount -t tmpfs lab-run /run && '
            'mount -t tmpfs lab-var /var/lib/corosync && '
            'mkdir -p /run/corosync /run/corosync-qnetd /run/corosync-qdevice && exec "$@"')
JOIN_TIMEOUT = 45.0
STOP_TIMEOUT = 10.0


def etc_dir(root: Path, node: str) -> Path:
    """The node's /etc/corosync (under the node's root, as the rest of its files)."""
    return LabPaths(root).node_root(node) / "etc" / "corosync"


def log_file(root: Path, name: str) -> Path:
    return state.real_dir(root) / "log" / f"corosync-{name}.log"


def authkey(root: Path) -> Path:
    return state.real_dir(root) / "authkey"


def make_authkey(root: Path) -> None:
    """The cluster's knet key (PVE: /etc/pve/priv/authkey.key, corosync-keygen's 256 bytes)."""
    key = authkey(root)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(os.urandom(256))


def program(daemon: str) -> str:
    """The process name of a recorded daemon: ``ceph-osd@3`` is a ``ceph-osd`` (comm: 15 chars)."""
    return daemon.split("@", 1)[0][:15]


def pid_of(st: RealState, node: str, daemon: str = "corosync") -> int | None:
    """The PID of ``daemon`` on ``node`` if it still is that daemon in that node's namespace."""
    pid = st.procs.get(f"{daemon}/{node}")
    if pid is None or not alive(pid) or comm(pid) != program(daemon):
        return None
    ns = netns_inode(st.node_ns.get(node, ""))
    return pid if ns is not None and process_netns_inode(pid) == ns else None


def _write_private(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _install_conf(root: Path, node: str, text: str) -> None:
    etc = etc_dir(root, node)
    etc.mkdir(parents=True, exist_ok=True)
    _write_private(etc / "authkey", authkey(root).read_bytes(), 0o400)
    _write_private(etc / "corosync.conf", text.encode(), 0o644)


def private_argv(ns: str, etc: Path, program: list[str]) -> list[str]:
    """``program`` in namespace ``ns`` with ``etc`` as /etc/corosync and its own /run."""
    return ["ip", "netns", "exec", ns, "unshare", "-m", "--propagation", "private",
            "sh", "-c", _PRIVATE, "sh", str(etc), *program]


def spawn(root: Path, st: RealState, who: str, daemon: str, argv: list[str], log: Path | None = None) -> int:
    """Start a daemon detached, record its PID under ``daemon/who``, wait until it is exec'd.

    ``ip netns exec``, unshare, nsenter and sh all exec, so the PID is the daemon's."""
    if log is None:
        log = log_file(root, who.lstrip("@") if daemon == "corosync" else f"{daemon.removeprefix('corosync-')}-"
                       f"{who.lstrip('@')}")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                                env=host_env())
    st.procs[f"{daemon}/{who}"] = proc.pid
    deadline = time.monotonic() + STOP_TIMEOUT
    while comm(proc.pid) != program(daemon):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:]
            raise RealLabError(f"{who}: {daemon} did not start: {tail[0] if tail else 'no output'}")
        time.sleep(0.01)
    return proc.pid


def start(root: Path, st: RealState, node: str) -> int:
    argv = private_argv(st.node_ns[node], etc_dir(root, node), ["corosync", "-f"])
    return spawn(root, st, node, "corosync", argv)


def stop(st: RealState, node: str, daemon: str = "corosync", sig: int = signal.SIGKILL) -> bool:
    """Stop a daemon by its recorded PID (SIGKILL = the power cord); True if it ran."""
    pid = pid_of(st, node, daemon)
    st.procs.pop(f"{daemon}/{node}", None)
    if pid is None:
        return False
    os.kill(pid, sig)
    deadline = time.monotonic() + STOP_TIMEOUT
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def tool(st: RealState, node: str, argv: list[str], *, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a corosync tool as ``node`` (its net and mount namespace: IPC needs both)."""
    pid = pid_of(st, node)
    if pid is None:
        return subprocess.CompletedProcess(argv, 1, "", "Cannot initialize CMAP service\n")
    return run(["nsenter", "-t", str(pid), "-m", "-n", *argv], check=check)


def _link_addresses(conf: ClusterConf) -> dict[str, dict[str, str]]:
    by_link: dict[int, list[str]] = {}
    for n in conf.nodes:
        for link, addr in n.addrs.items():
            by_link.setdefault(link, []).append(addr)
    try:
        prefix = {link: network.link_prefix(addrs) for link, addrs in by_link.items()}
    except ValueError as exc:
        raise RealLabError(f"corosync.conf: {exc} (the real lab needs literal addresses)") from None
    return {n.name: {str(link): f"{addr}/{prefix[link]}" for link, addr in n.addrs.items()} for n in conf.nodes}


def sync(root: Path, text: str | None, conf: ClusterConf | None, power: dict[str, bool],
         mgmt: dict[str, str]) -> list[str]:
    """Bring NICs and daemons in line with corosync.conf and node power; returns log lines.

    Cheap when nothing changed (one state read). New members are waited for until they are
    in a membership with quorum, like ``pvecm add``'s "waiting for quorum...OK"."""
    digest = state.conf_digest(text or "")
    st0 = state.load(root)
    if st0.applied_conf == digest and all(
        (pid_of(st0, n) is not None) == bool(power.get(n))
        and (conf is None or conf.qdevice is None or (pid_of(st0, n, qdevice.DAEMON) is not None) == bool(power.get(n)))
        for n in _members(conf)
    ):
        return []
    log: list[str] = []
    started: list[str] = []
    with state.locked(root) as st:
        members = _members(conf)
        links = _link_addresses(conf) if conf else {}
        if conf is not None and conf.qdevice is not None:
            qdevice.add_management(st, links, conf, mgmt)
        network.set_links(st, links)
        for node in sorted(n for n in st.node_ns if n != qdevice.QNETD):
            running = pid_of(st, node) is not None
            if node not in members or not power.get(node):
                if running and stop(st, node):
                    log.append(f"{node}: corosync stopped")
                continue
            if text is not None:
                _install_conf(root, node, text)
            if not running:
                start(root, st, node)
                started.append(node)
                log.append(f"{node}: corosync started")
        changed = st.applied_conf != digest
        st.applied_conf = digest
        if changed and text is not None:
            reloader = next((n for n in sorted(members) if n not in started and pid_of(st, n)), None)
            if reloader is not None:
                done = tool(st, reloader, ["corosync-cfgtool", "-R"])
                log.append(f"{reloader}: corosync-cfgtool -R" + (
                    "" if done.returncode == 0 else f" failed with exit code {done.returncode}: "
                    f"{done.stderr.strip() or done.stdout.strip()}"))
        log += qdevice.sync(root, st, conf, {n for n in members if power.get(n)})
        for node in started if changed else []:
            wait_quorate(st, node)
    return log


def _members(conf: ClusterConf | None) -> set[str]:
    return {n.name for n in conf.nodes} if conf else set()


def _wait_ok(st: RealState, node: str, argv: list[str], timeout: float) -> bool:
    """Poll a corosync tool on ``node`` until it exits 0; False if corosync died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid_of(st, node) is None:
            return False
        if tool(st, node, argv).returncode == 0:
            return True
        time.sleep(0.1)
    return False


def wait_ipc(st: RealState, node: str, timeout: float = STOP_TIMEOUT) -> bool:
    """Wait until a freshly started corosync serves its IPC (clients started earlier exit)."""
    return _wait_ok(st, node, ["corosync-cmapctl", "-g", "totem.cluster_name"], timeout)


def wait_quorate(st: RealState, node: str, timeout: float = JOIN_TIMEOUT) -> bool:
    """``corosync-quorumtool -s`` exits 0 only when the node is quorate."""
    return _wait_ok(st, node, ["corosync-quorumtool", "-s", "-p"], timeout)


def stop_all(st: RealState) -> list[str]:
    """Stop every daemon the lab recorded; returns the ones that would not stop."""
    stubborn = []
    for key in sorted(st.procs):
        daemon, node = key.split("/", 1)
        pid = st.procs[key]
        if pid_of(st, node, daemon) is not None:
            stop(st, node, daemon)
            if alive(pid):
                stubborn.append(f"{key} (pid {pid})")
        st.procs.pop(key, None)
    return stubborn


def sync_store(store: Store, root: Path) -> list[str]:
    """``sync`` with corosync.conf and node power as the lab's store holds them."""
    from provision.lab.files import COROSYNC, parse_corosync
    from provision.lab.real import membership

    text = store.get_file(COROSYNC)
    conf = parse_corosync(text) if text else None
    rows = store.query("SELECT name, power, ip FROM nodes")
    power = {str(r["name"]): bool(r["power"]) for r in rows}
    log = sync(root, text, conf, power, {str(r["name"]): str(r["ip"]) for r in rows})
    if log:
        membership.forget(root)
    return log
