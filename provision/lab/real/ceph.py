"""Real Ceph daemons for a ``--real`` lab, following what the lab's ``pveceph`` recorded.

The lab's ``pveceph init``/``mon create``/``mgr create``/``osd create``/``pool create``
(and their destroy, ``systemctl stop ceph-osd@N``, ``ceph osd out``) keep their records in
the lab's store, as PVE's API writes /etc/pve and asks the monitors. ``sync`` brings a real
Ceph cluster in line with those records, the way PVE's ``PVE/Ceph/Services.pm`` and
``PVE/API2/Ceph/OSD.pm`` drive Debian's daemons (cited in docs/lab-contract.md):

- the cluster's fsid is /etc/pve/ceph.conf's; the first MON is made with
  ``monmaptool --create`` + ``ceph-mon --mkfs``, later ones from the running cluster's
  monmap and ``mon.`` key (they join by themselves);
- MONs, MGRs and OSDs run in their node's network namespace on its address in Ceph's
  public network (a NIC ``lc`` on one more isolated bridge), so a node's power cord takes
  its daemons with it;
- OSDs are BlueStore directly on a sparse file (``bluestore_block_create``), their CRUSH
  host is the lab node (``crush_location``), so the default rule spreads copies over
  nodes as on a cluster.

Everything lives under ``<lab>/real/ceph`` and every daemon is recorded by PID in the real
state, so ``lab down`` removes it all. Small on purpose (2 cores): pools get at most
``MAX_PGS`` placement groups and the autoscaler stays off.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision.lab.real import corosync, network, state
from provision.lab.real.host import RealLabError, host_env, run
from provision.lab.real.state import RealState
from provision.lab.store import Store

MAX_PGS = 32
OSD_BYTES = 10 * 1024**3  # apparent size; BlueStore allocates what it writes (real-lab.md: 2 GiB ran out)
CLIENT_TIMEOUT = 20
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # pve-configid-like: a path or section name, never more
STATUS_TIMEOUT = 10  # a status read without a MON quorum gives up after this (librados: "timed out")
JOIN_TIMEOUT = 90.0


def ceph_dir(root: Path) -> Path:
    return state.real_dir(root) / "ceph"


def conf_path(root: Path) -> Path:
    return ceph_dir(root) / "ceph.conf"


# --- what the lab recorded ------------------------------------------------------------------


@dataclass
class Wanted:
    """The Ceph cluster as the lab's records describe it (only what real daemons need)."""

    fsid: str
    public_network: str
    size: int
    min_size: int
    addrs: dict[str, str]  # node -> its address in the public network
    power: dict[str, bool]
    mons: dict[str, tuple[str, str, bool]] = field(default_factory=dict)  # id -> (host, addr, running)
    mgrs: dict[str, tuple[str, bool]] = field(default_factory=dict)  # id -> (host, running)
    osds: dict[int, tuple[str, str, bool, bool, str]] = field(default_factory=dict)  # id -> (host, uuid, running,
    # in, device class)
    pools: dict[str, tuple[int, int, int, str]] = field(default_factory=dict)  # name -> (size, min, pgs, app)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.__dict__, sort_keys=True, default=list).encode()).hexdigest()

    def runs(self, host: str, flag: bool) -> bool:
        return flag and self.power.get(host, False)


def wanted(store: Store, root: Path) -> Wanted | None:
    """The lab's Ceph records; None before ``pveceph init`` (no /etc/pve/ceph.conf)."""
    from provision.lab.files import CEPH_CONF, parse_ceph_conf
    from provision.lab.ops.network import node_addresses
    from provision.lab.paths import LabPaths
    from provision.lab.registry import Ctx

    text = store.get_file(CEPH_CONF)
    if text is None:
        return None
    glob = parse_ceph_conf(text).get("global", {})
    net = glob.get("public_network", "").split(",")[0].strip()
    if not net:
        raise RealLabError("real Ceph needs a public network (pveceph init --network CIDR)")
    cidr = ipaddress.ip_network(net, strict=False)
    power = {str(r["name"]): bool(r["power"]) for r in store.query("SELECT name, power FROM nodes")}
    addrs: dict[str, str] = {}
    for node in power:
        ctx = Ctx(store, LabPaths(root), node, "root@pam")
        mine = [a for a in node_addresses(ctx, node) if ipaddress.ip_address(a) in cidr]
        if mine:
            addrs[node] = mine[0]
    w = Wanted(fsid=glob.get("fsid", ""), public_network=str(cidr), size=int(glob.get("osd_pool_default_size", "3")),
               min_size=int(glob.get("osd_pool_default_min_size", "2")), addrs=addrs, power=power)
    for r in store.query("SELECT name, host, addr, running FROM ceph_mons"):
        w.mons[str(r["name"])] = (str(r["host"]), str(r["addr"]), bool(r["running"]))
    for r in store.query("SELECT name, host, running FROM ceph_mgrs"):
        w.mgrs[str(r["name"])] = (str(r["host"]), bool(r["running"]))
    for r in store.query("SELECT id, host, uuid, running, in_, class FROM ceph_osds"):
        w.osds[int(r["id"])] = (str(r["host"]), str(r["uuid"] or ""), bool(r["running"]), bool(r["in_"]),
                                str(r["class"] or ""))
    for r in store.query("SELECT name, size, min_size, pg_num, application FROM ceph_pools"):
        w.pools[str(r["name"])] = (int(r["size"]), int(r["min_size"]), int(r["pg_num"]), str(r["application"]))
    for ident in [*w.mons, *w.mgrs, *w.addrs]:  # they name directories and ceph.conf sections
        if not _ID.fullmatch(ident):
            raise RealLabError(f"real Ceph: daemon or node name {ident!r} is not a plain id ([A-Za-z0-9_.-])")
    return w


def sync_store(store: Store, root: Path) -> list[str]:
    """``sync`` with what the lab's store holds, for a lab made with real Ceph."""
    if not state.load(root).ceph:
        return []
    return sync(root, wanted(store, root))


# --- the cluster's files --------------------------------------------------------------------


def _write_conf(root: Path, w: Wanted, mons: dict[str, str], osd_hosts: dict[int, str]) -> None:
    """ceph.conf of the real cluster (real-lab.md's recipe: every path inside the lab)."""
    d = ceph_dir(root)
    mon_host = ",".join(_addrv(a) for _, a in sorted(mons.items()))
    lines = [
        "[global]", f"fsid = {w.fsid}", f"mon_host = {mon_host}", f"public_network = {w.public_network}",
        "ms_bind_ipv6 = false", "auth_cluster_required = cephx", "auth_service_required = cephx",
        "auth_client_required = cephx", "auth_allow_insecure_global_id_reclaim = false",
        f"run_dir = {d}/run", f"crash_dir = {d}/crash", f"osd_pool_default_size = {w.size}",
        f"osd_pool_default_min_size = {w.min_size}", "osd_pool_default_pg_autoscale_mode = off",
        "mon_allow_pool_delete = true", "mon_data_avail_warn = 5", "mon_data_avail_crit = 2",
        "mon_osd_report_timeout = 30", "osd_beacon_report_interval = 10", "",
    ]
    for kind in ("mon", "mgr", "osd"):
        lines += [f"[{kind}]", f"{kind}_data = {d}/$name", f"pid_file = {d}/run/$name.pid",
                  f"admin_socket = {d}/run/$name.asok", f"log_file = {d}/log/$name.log"]
        if kind == "mon":
            lines.append(f"mon_cluster_log_file = {d}/log/$cluster.$channel.log")
        if kind == "osd":
            lines += ["osd_objectstore = bluestore", "bluestore_block_create = true",
                      f"bluestore_block_size = {OSD_BYTES}", "osd_memory_target = 939524096"]
        lines.append("")
    for osd, host in sorted(osd_hosts.items()):
        lines += [f"[osd.{osd}]", f"crush_location = root=default host={host}", ""]
    lines += ["[client]", f"keyring = {d}/ceph.client.admin.keyring", ""]
    tmp = conf_path(root).with_suffix(".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(conf_path(root))


def _addrv(addr: str) -> str:
    return f"[v2:{addr}:3300,v1:{addr}:6789]"


def _keys(root: Path) -> None:
    """The ``mon.`` and ``client.admin`` keys, made once per cluster (pveceph init/mon create)."""
    d = ceph_dir(root)
    if (d / "mon.keyring").exists():
        return
    for sub in ("run", "log", "crash"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    admin = d / "ceph.client.admin.keyring"
    run(["ceph-authtool", "--create-keyring", str(d / "mon.keyring.new"), "--gen-key", "-n", "mon.",
         "--cap", "mon", "allow *"])
    run(["ceph-authtool", "--create-keyring", str(admin), "--gen-key", "-n", "client.admin", "--cap", "mon",
         "allow *", "--cap", "osd", "allow *", "--cap", "mgr", "allow *", "--cap", "mds", "allow *"])
    run(["ceph-authtool", str(d / "mon.keyring.new"), "--import-keyring", str(admin)])
    (d / "mon.keyring.new").replace(d / "mon.keyring")


# --- talking to the cluster -----------------------------------------------------------------


def _client_ns(st: RealState, w: Wanted) -> str | None:
    """A powered node with a NIC in the public network: the ``ceph`` client runs there."""
    for node in sorted(w.addrs):
        if w.power.get(node) and f"{node}/{network.CEPH}" in st.links:
            return st.node_ns[node]
    return None


def client(root: Path, st: RealState, w: Wanted, argv: list[str], *, check: bool = True,
           timeout: float = CLIENT_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``ceph ARGV`` as the cluster's admin, from inside a node's namespace."""
    ns = _client_ns(st, w)
    if ns is None:
        raise RealLabError("real Ceph: no powered node reaches the public network")
    full = ["ip", "netns", "exec", ns, "ceph", "-c", str(conf_path(root)), "--connect-timeout",
            str(int(timeout)), *argv]
    proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout + 10, stdin=subprocess.DEVNULL,
                          env=host_env())
    if check and proc.returncode != 0:
        raise RealLabError(f"ceph {' '.join(argv[:3])}: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return proc


def client_json(root: Path, st: RealState, w: Wanted, argv: list[str]) -> Any:
    return json.loads(client(root, st, w, [*argv, "-f", "json"]).stdout or "null")


def _daemon(root: Path, st: RealState, node: str, kind: str, ident: str, extra: list[str]) -> None:
    d = ceph_dir(root)
    argv = ["ip", "netns", "exec", st.node_ns[node], f"ceph-{kind}", "-f", "-c", str(conf_path(root)), "-i", ident,
            *extra]
    corosync.spawn(root, st, node, f"ceph-{kind}@{ident}", argv, log=d / "log" / f"{kind}.{ident}.stderr")


def _running(st: RealState, node: str, kind: str, ident: str) -> bool:
    return corosync.pid_of(st, node, f"ceph-{kind}@{ident}") is not None


def _stop(st: RealState, w: Wanted, node: str, kind: str, ident: str) -> bool:
    """``systemctl stop`` (SIGTERM: the daemon tells the MONs) or, on a powered-off node,
    the power cord (SIGKILL: its peers have to notice)."""
    sig = signal.SIGTERM if w.power.get(node) else signal.SIGKILL
    return corosync.stop(st, node, f"ceph-{kind}@{ident}", sig)


def _follow_power(root: Path, st: RealState, w: Wanted, host: str, flag: bool, kind: str, ident: str,
                  log: list[str], extra: Sequence[str] = ()) -> bool:
    """Start or stop one daemon as the lab's record and its node's power say (a log line
    for what changed). True when it was started now."""
    if w.runs(host, flag) and not _running(st, host, kind, ident):
        _daemon(root, st, host, kind, ident, list(extra))
        log.append(f"{host}: ceph-{kind} {ident} started")
        return True
    if not w.runs(host, flag) and _stop(st, w, host, kind, ident):
        log.append(f"{host}: ceph-{kind} {ident} stopped")
    return False


def _wait(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise RealLabError(f"real Ceph: {what} did not happen within {int(timeout)} s")


# --- the hand-over --------------------------------------------------------------------------


def sync(root: Path, w: Wanted | None) -> list[str]:
    """Bring the real Ceph in line with the lab's records; returns log lines.

    Cheap when nothing changed (one state read and a PID check per daemon)."""
    if w is None:
        return []
    st0 = state.load(root)
    if st0.applied_ceph == w.digest() and _all_as_wanted(st0, w):
        return []
    log: list[str] = []
    with state.locked(root) as st:
        network.set_links(st, {n: {network.CEPH: f"{a}/{_prefix(w)}"} for n, a in w.addrs.items()}, ceph=True)
        _keys(root)
        known = dict(st.ceph_mons)
        _write_conf(root, w, {i: a for i, (_, a, _) in w.mons.items() if i in known}, _osd_hosts(w))
        log += _sync_mons(root, st, w)
        log += _sync_mgrs(root, st, w)
        log += _sync_osds(root, st, w)
        log += _sync_pools(root, st, w)
        st.applied_ceph = w.digest()
    return log


def _prefix(w: Wanted) -> int:
    return ipaddress.ip_network(w.public_network, strict=False).prefixlen


def _osd_hosts(w: Wanted) -> dict[int, str]:
    return {i: host for i, (host, *_rest) in w.osds.items()}


def _all_as_wanted(st: RealState, w: Wanted) -> bool:
    return (all(_running(st, h, "mon", i) == w.runs(h, r) for i, (h, _, r) in w.mons.items())
            and all(_running(st, h, "mgr", i) == w.runs(h, r) for i, (h, r) in w.mgrs.items())
            and all(_running(st, h, "osd", str(i)) == w.runs(h, r) for i, (h, _, r, *_) in w.osds.items()))


def _sync_mons(root: Path, st: RealState, w: Wanted) -> list[str]:
    d = ceph_dir(root)
    log: list[str] = []
    for ident in sorted(set(st.ceph_mons) - set(w.mons)):  # pveceph mon destroy
        host = st.ceph_mons.pop(ident)
        _stop(st, w, host, "mon", ident)
        client(root, st, w, ["mon", "remove", ident], check=False)
        shutil.rmtree(d / f"mon.{ident}", ignore_errors=True)
        log.append(f"{host}: ceph-mon {ident} removed")
    for ident, (host, addr, flag) in sorted(w.mons.items(), key=lambda m: ident_order(st, m[0])):
        made = ident not in st.ceph_mons
        if made:
            if not st.ceph_mons:  # the first monitor makes the cluster
                run(["monmaptool", "--create", "--fsid", w.fsid, "--addv", ident, _addrv(addr), str(d / "monmap")])
                keyring = d / "mon.keyring"
            else:
                client(root, st, w, ["mon", "getmap", "-o", str(d / "monmap")])
                client(root, st, w, ["auth", "get", "mon.", "-o", str(d / "mon.keyring.export")])
                keyring = d / "mon.keyring.export"
            run(["ip", "netns", "exec", st.node_ns[host], "ceph-mon", "-c", str(conf_path(root)), "--mkfs", "-i",
                 ident, "--monmap", str(d / "monmap"), "--keyring", str(keyring)], timeout=60)
            st.ceph_mons[ident] = host
            _write_conf(root, w, {i: a for i, (_, a, _) in w.mons.items() if i in st.ceph_mons}, _osd_hosts(w))
            log.append(f"{host}: ceph-mon {ident} created")
        started = _follow_power(root, st, w, host, flag, "mon", ident, log, ["--public-addrv", _addrv(addr)])
        if started and made:  # pveceph mon create waits until the new monitor is in the quorum
            _wait(f"mon.{ident} in quorum", lambda i=ident: _in_quorum(root, st, w, i), JOIN_TIMEOUT)
    return log


def ident_order(st: RealState, ident: str) -> tuple[int, str]:
    """Monitors the cluster already has first, so a new one finds a quorum to join."""
    return (0 if ident in st.ceph_mons else 1, ident)


def _in_quorum(root: Path, st: RealState, w: Wanted, ident: str) -> bool:
    proc = client(root, st, w, ["quorum_status", "-f", "json"], check=False, timeout=10)
    try:
        return ident in json.loads(proc.stdout).get("quorum_names", [])
    except ValueError:
        return False


def _sync_mgrs(root: Path, st: RealState, w: Wanted) -> list[str]:
    d = ceph_dir(root)
    log: list[str] = []
    for ident in sorted(set(st.ceph_mgrs) - set(w.mgrs)):
        host = st.ceph_mgrs.pop(ident)
        _stop(st, w, host, "mgr", ident)
        client(root, st, w, ["auth", "del", f"mgr.{ident}"], check=False)
        shutil.rmtree(d / f"mgr.{ident}", ignore_errors=True)
        log.append(f"{host}: ceph-mgr {ident} removed")
    for ident, (host, flag) in sorted(w.mgrs.items()):
        if ident not in st.ceph_mgrs:
            (d / f"mgr.{ident}").mkdir(parents=True, exist_ok=True)
            client(root, st, w, ["auth", "get-or-create", f"mgr.{ident}", "mon", "allow profile mgr", "osd", "allow *",
                                 "mds", "allow *", "-o", str(d / f"mgr.{ident}" / "keyring")])
            st.ceph_mgrs[ident] = host
            log.append(f"{host}: ceph-mgr {ident} created")
        _follow_power(root, st, w, host, flag, "mgr", ident, log)
    return log


def _sync_osds(root: Path, st: RealState, w: Wanted) -> list[str]:
    d = ceph_dir(root)
    log: list[str] = []
    for key in sorted(set(st.ceph_osds) - {str(i) for i in w.osds}):  # pveceph osd destroy
        host = st.ceph_osds.pop(key)
        _stop(st, w, host, "osd", key)
        client(root, st, w, ["osd", "purge", key, "--yes-i-really-mean-it"], check=False)
        shutil.rmtree(d / f"osd.{key}", ignore_errors=True)
        log.append(f"{host}: ceph-osd {key} destroyed")
    for osd, (host, osd_uuid, flag, in_, dclass) in sorted(w.osds.items()):
        key = str(osd)
        if key not in st.ceph_osds:
            osd_dir = d / f"osd.{key}"
            osd_dir.mkdir(parents=True, exist_ok=True)
            fsid = osd_uuid or str(uuid.uuid4())
            client(root, st, w, ["osd", "new", fsid, key])
            client(root, st, w, ["auth", "get-or-create", f"osd.{key}", "mon", "allow profile osd", "mgr",
                                 "allow profile osd", "osd", "allow *", "-o", str(osd_dir / "keyring")])
            run(["ip", "netns", "exec", st.node_ns[host], "ceph-osd", "-c", str(conf_path(root)), "-i", key,
                 "--mkfs", "--osd-uuid", fsid], timeout=120)
            if dclass:  # what ceph-volume records for --crush-device-class; the OSD reads it at start
                (osd_dir / "crush_device_class").write_text(dclass + "\n")
            st.ceph_osds[key] = host
            log.append(f"{host}: ceph-osd {key} created (BlueStore on a sparse file)")
        _follow_power(root, st, w, host, flag, "osd", key, log)
        if st.ceph_osd_in.get(key) != in_:
            client(root, st, w, ["osd", "in" if in_ else "out", key])
            st.ceph_osd_in[key] = in_
            log.append(f"ceph osd {'in' if in_ else 'out'} {key}")
    return log


def _sync_pools(root: Path, st: RealState, w: Wanted) -> list[str]:
    running = sum(1 for h, _, r in w.mons.values() if w.runs(h, r))
    if running * 2 <= len(w.mons):  # no MON majority: nothing answers (a lost node must not fail `lab fail`)
        return []
    log: list[str] = []
    have = {p["pool_name"]: p for p in client_json(root, st, w, ["osd", "pool", "ls", "detail"]) or []}
    for name in sorted(set(st.ceph_pools) - set(w.pools)):
        if name in have:
            client(root, st, w, ["osd", "pool", "rm", name, name, "--yes-i-really-really-mean-it"])
        st.ceph_pools.remove(name)
        log.append(f"ceph pool {name} removed")
    for name, (size, min_size, pgs, app) in sorted(w.pools.items()):
        if name not in have:
            n = str(min(pgs, MAX_PGS))
            client(root, st, w, ["osd", "pool", "create", name, n, n, "replicated"])
            client(root, st, w, ["osd", "pool", "set", name, "pg_autoscale_mode", "off"])
            client(root, st, w, ["osd", "pool", "application", "enable", name, app])
            st.ceph_pools.append(name)
            log.append(f"ceph pool {name} created ({n} PGs)")
            have[name] = {"size": None, "min_size": None}
        if have[name].get("size") != size:
            client(root, st, w, ["osd", "pool", "set", name, "size", str(size)])
        if have[name].get("min_size") != min_size:
            client(root, st, w, ["osd", "pool", "set", name, "min_size", str(min_size)])
    return log


# --- what the lab's Ceph endpoints report -------------------------------------------------


def _live(store: Store, root: Path) -> tuple[RealState, Wanted] | None:
    st = state.load(root)
    if not st.ceph or not st.ceph_mons:
        return None
    w = wanted(store, root)
    return None if w is None else (st, w)


def status(store: Store, root: Path) -> dict[str, Any] | None:
    """``ceph status -f json`` of the real cluster (what PVE's status endpoint returns as
    is); None when the lab runs no real Ceph or has no monitor yet. Without a monitor
    quorum the client times out: RealLabError."""
    live = _live(store, root)
    if live is None:
        return None
    doc: dict[str, Any] = json.loads(client(root, *live, ["status", "-f", "json"], timeout=STATUS_TIMEOUT).stdout)
    return doc


def osd_safety(store: Store, root: Path, osd: int, action: str) -> tuple[int, str] | None:
    """``ceph osd ok-to-stop N`` / ``safe-to-destroy N`` asked of the real monitors:
    (exit code, message), 0 when safe and EBUSY (16) while PGs still need the OSD."""
    live = _live(store, root)
    if live is None:
        return None
    verb = "ok-to-stop" if action == "stop" else "safe-to-destroy"
    proc = client(root, *live, ["osd", verb, str(osd)], check=False)
    return proc.returncode, (proc.stderr or proc.stdout).strip()


def node_client(store: Store, root: Path, node: str, argv: list[str]) -> subprocess.CompletedProcess[str] | None:
    """The real ``ceph ARGV`` on ``node`` (its namespace, the cluster's admin key), as a
    PVE node's own ``ceph`` command is the real client; None without real Ceph."""
    live = _live(store, root)
    if live is None:
        return None
    st, _w = live
    full = ["ip", "netns", "exec", st.node_ns[node], "ceph", "-c", str(conf_path(root)), *argv]
    return subprocess.run(full, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=host_env(),
                          timeout=600)
