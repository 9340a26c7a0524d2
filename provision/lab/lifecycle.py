"""Create, inspect, break and destroy labs (``provision lab ...``).

``up`` writes every file of docs/lab-contract.md, then starts the API server detached in
its own session with an already listening socket, so ``connection.json`` is final before
the server runs and ``down`` can stop exactly the process group it started. Faults are
rows in the store, so the server, the CRM loop and every node CLI see them at once.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from provision.lab import bytecode, fusemount, hamanager, hardware, hosts, pmxcfs, powerdown, real, tokens, topology
from provision.lab.files import CEPH_CONF, COROSYNC, HA_RESOURCES, parse_corosync, parse_sections
from provision.lab.paths import ADMIN_TOKEN_ID, NODE_CLIS, READONLY_TOKEN_ID, LabPaths
from provision.lab.procs import alive as _alive
from provision.lab.real import host, parts
from provision.lab.real.host import RealLabError
from provision.lab.store import Store
from provision.lab.tls import make_certs

if TYPE_CHECKING:
    from provision.spec import Cluster

T = TypeVar("T")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class LabError(Exception):
    """A user-facing error: printed as one line, exit code 1."""


@dataclass
class Lab:
    paths: LabPaths

    @classmethod
    def named(cls, name: str) -> Lab:
        if not name or "/" in name or name.startswith("."):
            raise LabError(f"invalid lab name '{name}'")
        return cls(LabPaths.for_name(name))

    @property
    def name(self) -> str:
        return self.paths.name

    def exists(self) -> bool:
        return self.paths.db.exists()

    def pid(self) -> int | None:
        try:
            return int(self.paths.pid.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and _alive(pid)

    def require_running(self) -> None:
        if not self.exists():
            raise LabError(f"lab '{self.name}' does not exist (start it with: provision lab up --name {self.name})")
        if not self.running():
            raise LabError(f"lab '{self.name}' is not running (server.pid is stale); run: provision lab down "
                           f"--name {self.name}")

    def store(self) -> Store:
        return Store(self.paths.db)

    def connection(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.paths.connection.read_text())
        return data

    def nodes(self) -> list[str]:
        with self.store() as st:
            return [r["name"] for r in st.query("SELECT name FROM nodes ORDER BY name")]

    def require_node(self, node: str) -> None:
        names = self.nodes()
        if node not in names:
            raise LabError(f"unknown node '{node}' (lab '{self.name}' has {', '.join(names)})")


# --- up -------------------------------------------------------------------------------------------


def up(name: str, nodes: int, pve: int | None, *, time_scale: float, stack: Path | None = None,
       real_parts: bool = False, qnetd: Sequence[str] = (), real_ceph: bool = False,
       hardware_only: bool = False) -> Lab:
    """Create and start a lab; ``pve=None`` means 8, or the stack's version with ``stack``
    (with ``hardware_only``, the stack's machines freshly installed: a blank lab that a
    large synthetic stack can be built on).

    With ``real_parts`` each node is a network namespace running a real corosync
    (``provision.lab.real``); membership and quorum then come from those daemons. With
    ``real_ceph`` as well, real Ceph daemons follow what the lab's ``pveceph`` records.
    Each ``qnetd`` address becomes a freshly installed external host (``hosts``)."""
    lab = Lab.named(name)
    if lab.paths.root.exists():
        state = "running" if lab.running() else "stopped"
        raise LabError(f"lab '{name}' already exists ({state}) at {lab.paths.root}; run: provision lab down --name "
                       f"{name}")
    spec = None
    if stack is not None:
        from provision.lab.seed import SeedError, load

        try:
            spec = load(stack)
        except SeedError as exc:
            raise LabError(str(exc)) from None
        if pve is not None and pve != spec.pve_version:
            raise LabError(f"--pve {pve} contradicts the stack's pve_version {spec.pve_version}")
        pve = spec.pve_version
    pve = 8 if pve is None else pve
    if pve not in (8, 9):
        raise LabError(f"unsupported PVE version {pve} (use 8 or 9)")
    if not 1 <= nodes <= 32:
        raise LabError(f"--nodes must be between 1 and 32, got {nodes}")
    if time_scale <= 0:
        raise LabError(f"--time-scale must be positive, got {time_scale}")
    for address in qnetd:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise LabError(f"--qnetd {address!r} is not an IP address (pvecm qdevice setup takes one)") from None
    real_parts = real_parts or real_ceph
    if real_parts:
        _real_call(host.preflight, with_ceph=real_ceph)
    paths = lab.paths
    paths.root.mkdir(parents=True)
    try:
        return _create(lab, nodes, pve, time_scale, spec, real_parts, qnetd, real_ceph, hardware_only)
    except BaseException:
        _stop_server(lab)
        with contextlib.suppress(fusemount.MountError):
            fusemount.stop(paths)
        parts.destroy(paths.root)
        shutil.rmtree(paths.root, ignore_errors=True)
        raise


def _real_call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a real-parts step; its one-line error becomes a LabError."""
    try:
        return fn(*args, **kwargs)
    except RealLabError as exc:
        raise LabError(str(exc)) from None


def _create(lab: Lab, nodes: int, pve: int, time_scale: float, spec: Cluster | None, real_parts: bool,
            qnetd: Sequence[str], real_ceph: bool, hardware_only: bool = False) -> Lab:
    paths = lab.paths
    for d in (paths.tokens, paths.tls, paths.bin):
        d.mkdir(parents=True, exist_ok=True)
    fingerprint = make_certs(paths.ca, paths.cert, paths.key, lab.name)

    with Store(paths.db, create=True) as st:
        with st.tx():
            st.set_meta("fingerprint", fingerprint)
            st.set_meta("time_scale", time_scale)
        if spec is not None:
            from provision.lab.seed import SeedError, seed_from_stack

            try:
                names = seed_from_stack(st, paths, spec, configure=not hardware_only)
            except SeedError as exc:
                raise LabError(str(exc)) from None
        else:
            names = hardware.seed_blank(st, paths, nodes, pve)
        bootstrap = _make_tokens(st, paths, names)
        for address in qnetd:
            hosts.add_qnetd(st, paths, address)
        external = hosts.qnetd_hosts(st)
        if real_parts:
            _real_call(parts.create, paths.root, names, with_ceph=real_ceph)
        _real_call(pmxcfs.sync, st, paths)  # the real daemons run the seeded corosync.conf

    try:
        fusemount.start(paths, names)  # every node's /etc/pve, with pmxcfs's rules
    except fusemount.MountError as exc:
        raise LabError(str(exc)) from None

    sock = _listen()
    node_socks = {n: _listen() for n in names}  # each node's own address
    try:
        _write_contract_files(lab, names, pve, sock.getsockname()[1],
                              {n: s.getsockname()[1] for n, s in node_socks.items()}, bootstrap, fingerprint,
                              external)
        fds = [sock.fileno(), *(s.fileno() for s in node_socks.values())]
        log = paths.log.open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "provision.lab.server", "--lab-dir", str(paths.root), "--fd", str(sock.fileno()),
             *(f"--node-fd={n}={s.fileno()}" for n, s in node_socks.items())],
            pass_fds=fds,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=str(paths.root),
        )
        log.close()
        paths.pid.write_text(f"{proc.pid}\n")
    finally:
        sock.close()
        for s in node_socks.values():
            s.close()
    deadline = time.monotonic() + START_TIMEOUT
    while not paths.ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = paths.log.read_text(errors="replace").strip().splitlines()[-1:] if paths.log.exists() else []
            raise LabError(f"lab server failed to start: {tail[0] if tail else 'no output'}")
        time.sleep(0.01)
    return lab


def _listen() -> socket.socket:
    """A listening socket on a free loopback port (handed to the server process)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def _write_token(path: Path, token_id: str) -> str:
    """A token file as the lab hands it out (0600, ``ID=SECRET``); returns the secret."""
    secret = str(uuid.UUID(bytes=secrets.token_bytes(16)))  # PVE's secrets are UUIDs too
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(f"{token_id}={secret}\n")
    return secret


def _make_tokens(st: Store, paths: LabPaths, names: list[str]) -> dict[str, Path]:
    """The tokens an admin makes before pve-provision runs (``pveum user token add root@pam
    provision --privsep 0``), each in the /etc/pve of the node it was made on.

    The admin and read-only tokens are made on the first node: in a built cluster that is
    the cluster's /etc/pve; on blank nodes it is the first node's own, which becomes the
    cluster's once the cluster is created there. Every other node that is not a member gets
    a bootstrap token of its own. Returns each non-member node's token file."""
    conf_text = st.get_file(COROSYNC)
    members = {n.name for n in parse_corosync(conf_text).nodes} if conf_text else set()
    first = tokens.database(names[0], member=names[0] in members)
    bootstrap: dict[str, Path] = {}
    with st.tx():
        for path, token_id, role in ((paths.admin_token, ADMIN_TOKEN_ID, "admin"),
                                     (paths.readonly_token, READONLY_TOKEN_ID, "readonly")):
            tokens.add(st, first, token_id, _write_token(path, token_id), role)
        for n in names:
            if n in members:
                continue
            if n == names[0]:
                bootstrap[n] = paths.admin_token
                continue
            bootstrap[n] = paths.bootstrap_token(n)
            tokens.add(st, n, ADMIN_TOKEN_ID, _write_token(bootstrap[n], ADMIN_TOKEN_ID), "admin")
    return bootstrap


def _write_contract_files(lab: Lab, names: list[str], pve: int, port: int, node_ports: dict[str, int],
                          bootstrap: dict[str, Path], fingerprint: str, qnetd: list[str]) -> None:
    paths = lab.paths

    def url(p: int) -> str:
        return f"https://127.0.0.1:{p}/api2/json"

    conn = {
        "name": lab.name,
        "api_url": url(port),
        "ca_file": str(paths.ca),
        "fingerprint": fingerprint,
        "token_file": str(paths.admin_token),
        "readonly_token_file": str(paths.readonly_token),
        "node_api_urls": {n: url(node_ports[n]) for n in names},
        "bootstrap": {n: {"api_url": url(node_ports[n]), "token_file": str(f)} for n, f in bootstrap.items()},
        "inventory": str(paths.inventory),
        "bin_dir": str(paths.bin),
        "pve_version": pve,
        "nodes": names,
        "qnetd_hosts": qnetd,
    }
    paths.connection.write_text(json.dumps(conn, indent=2) + "\n")
    python = sys.executable
    bytecode.precompile()  # each node CLI call is a new process: let it skip compiling
    for cmd in NODE_CLIS:
        shim = paths.bin / cmd
        shim.write_text(
            "#!/bin/sh\n"
            "# pve-provision lab node CLI: acts as $PVE_LAB_NODE of $PVE_LAB_DIR\n"
            f'PVE_LAB_DIR="${{PVE_LAB_DIR:-{paths.root}}}" exec "{python}" -m provision.lab.cli {cmd} "$@"\n'
        )
        shim.chmod(0o755)
    base_path = os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    node_hosts = {}
    for n in names:
        node_hosts[n] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": python,
            "pve_env": {"PATH": f"{paths.bin}:{base_path}", "PVE_LAB_DIR": str(paths.root), "PVE_LAB_NODE": n},
            "pve_root": str(paths.node_root(n)),
        }
    groups: dict[str, Any] = {"pve": {"hosts": node_hosts}}
    if qnetd:
        # external hosts are reached as themselves: their inventory name is their address
        groups["qnetd"] = {"hosts": {a: {
            "ansible_connection": "local",
            "ansible_python_interpreter": python,
            "pve_env": {"PATH": f"{paths.bin}:{base_path}", "PVE_LAB_DIR": str(paths.root), "PVE_LAB_HOST": a},
            "pve_root": str(paths.host_root(a)),
        } for a in qnetd}}
    inventory = {"all": {"children": groups}}
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    with paths.inventory.open("w") as fh:
        fh.write("# Ansible inventory of pve-provision lab '" + lab.name + "' (docs/lab-contract.md)\n")
        yaml.dump(inventory, fh)


# --- down -----------------------------------------------------------------------------------------


def _stop_server(lab: Lab) -> bool:
    """SIGTERM the server's process group, SIGKILL after a grace period; True if it was running."""
    pid = lab.pid()
    if pid is None or not _alive(pid):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if _alive(pid):
        with_kill = True
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            with_kill = False
        while with_kill and _alive(pid) and time.monotonic() < deadline + 5:
            time.sleep(0.02)
    return True


def down(name: str, *, keep: bool = False) -> bool:
    lab = Lab.named(name)
    if not lab.paths.root.exists():
        raise LabError(f"lab '{name}' does not exist")
    was_running = _stop_server(lab)
    try:
        fusemount.stop(lab.paths)
    except fusemount.MountError as exc:
        raise LabError(str(exc)) from None
    left = parts.destroy(lab.paths.root)
    if left:
        raise LabError(f"lab '{name}': could not remove {', '.join(left)}")
    lab.paths.pid.unlink(missing_ok=True)
    lab.paths.ready.unlink(missing_ok=True)
    if not keep:
        shutil.rmtree(lab.paths.root)
    return was_running


# --- faults ---------------------------------------------------------------------------------------


def power(name: str, node: str, on: bool) -> None:
    """Pull the plug (guests die with the node) or power it back on (guests stay stopped)."""
    lab = Lab.named(name)
    lab.require_running()
    lab.require_node(node)
    with lab.store() as st, st.tx():
        powerdown.set_power(st, node, on)
    if real.enabled(lab.paths.root):  # the node's daemons die with it, or boot with it
        with lab.store() as st:
            _real_call(parts.sync_store, st, lab.paths.root)


def node_down_cleanly(name: str, node: str, *, reboot: bool, down_for: float = 0.0,
                      timeout: float = 120.0) -> tuple[str, str]:
    """``shutdown``/``reboot`` on NODE: its HA agent acts on the shutdown policy first
    (``provision.lab.hamanager.request_shutdown``), the node powers off once the agent is
    done, and a reboot powers it on again ``down_for`` simulated seconds later. Returns
    ``(policy, LRM mode)``. A node outside a cluster has no HA agent to wait for."""
    lab = Lab.named(name)
    lab.require_running()
    lab.require_node(node)
    with lab.store() as st:
        row = st.one("SELECT power FROM nodes WHERE name = ?", (node,))
        if row is None or not row["power"]:
            raise LabError(f"{node} is powered off already")
        clustered = st.get_file(COROSYNC) is not None
        policy, mode = hamanager.request_shutdown(st, node, reboot) if clustered else ("-", "-")
        scale = float(st.get_meta("time_scale", 0.02))
        deadline = time.monotonic() + timeout
        while clustered and not hamanager.lrm_exited(st, node):
            if time.monotonic() > deadline:
                raise LabError(f"{node}: the HA agent did not finish its shutdown within {timeout:.0f} s "
                               f"(LRM mode {mode}; with 'migrate', a service that cannot move holds it)")
            time.sleep(0.05)
    power(name, node, False)
    if reboot:
        time.sleep(down_for * scale)
        power(name, node, True)
    return policy, mode


def partition(name: str, groups: list[list[str]]) -> None:
    lab = Lab.named(name)
    lab.require_running()
    seen: set[str] = set()
    for g in groups:
        for n in g:
            lab.require_node(n)
            if n in seen:
                raise LabError(f"node '{n}' is in more than one partition")
            seen.add(n)
    if len(groups) < 2:
        raise LabError("a partition needs at least two groups, e.g. 'pve01,pve02 pve03'")
    with lab.store() as st, st.tx():
        st.set_meta("partitions", groups)
    if real.enabled(lab.paths.root):
        _real_call(parts.partition, lab.paths.root, groups)


def heal(name: str) -> None:
    lab = Lab.named(name)
    lab.require_running()
    with lab.store() as st, st.tx() as c:
        st.set_meta("partitions", None)
        c.execute("DELETE FROM corosync_links")
    if real.enabled(lab.paths.root):
        _real_call(parts.heal, lab.paths.root)


def link(name: str, node: str, link_no: int, up_: bool) -> None:
    lab = Lab.named(name)
    lab.require_running()
    lab.require_node(node)
    if not 0 <= link_no <= 7:
        raise LabError(f"corosync link must be 0..7, got {link_no}")
    with lab.store() as st, st.tx() as c:
        c.execute("INSERT INTO corosync_links(node, link, up) VALUES(?,?,?) "
                  "ON CONFLICT(node, link) DO UPDATE SET up = excluded.up", (node, link_no, int(up_)))
    if real.enabled(lab.paths.root) and not _real_call(parts.set_link, lab.paths.root, node, link_no, up_):
        raise LabError(f"{node} has no corosync link {link_no} in the real lab")


def faults(name: str, *, error_rate: float | None, latency_ms: float | None, seed: int | None,
           fail_once: list[str], clear: bool, ceph_recovery_s: float | None = None) -> dict[str, Any]:
    lab = Lab.named(name)
    lab.require_running()
    if error_rate is not None and not 0.0 <= error_rate <= 1.0:
        raise LabError(f"--api-error-rate must be between 0 and 1, got {error_rate}")
    if latency_ms is not None and latency_ms < 0:
        raise LabError(f"--latency-ms must not be negative, got {latency_ms}")
    if ceph_recovery_s is not None and not 0 <= ceph_recovery_s <= 86400:
        raise LabError(f"--ceph-recovery-s must be between 0 and 86400, got {ceph_recovery_s}")
    with lab.store() as st, st.tx() as c:
        current: dict[str, Any] = {} if clear else (st.get_meta("api_faults", {}) or {})
        if clear:
            c.execute("DELETE FROM fail_once")
        if error_rate is not None:
            current["error_rate"] = error_rate
        if latency_ms is not None:
            current["latency_ms"] = latency_ms
        if seed is not None:
            current["seed"] = seed
        if current:
            current["generation"] = int(current.get("generation", 0)) + 1
        st.set_meta("api_faults", current or None)
        for cmd in fail_once:
            c.execute("INSERT INTO fail_once(prefix) VALUES(?)", (" ".join(cmd.split()),))
        if ceph_recovery_s is not None:
            st.set_meta("ceph_recovery_s", ceph_recovery_s)
        pending = [r["prefix"] for r in st.query("SELECT prefix FROM fail_once ORDER BY id")]
        recovery = st.get_meta("ceph_recovery_s")
    return {**current, "fail_once": pending, **({"ceph_recovery_s": recovery} if recovery is not None else {})}


# --- status ---------------------------------------------------------------------------------------


def status(name: str) -> dict[str, Any]:
    """What ``lab status`` shows: nodes, quorum, HA services, Ceph health."""
    lab = Lab.named(name)
    lab.require_running()
    from provision.lab.ops.ceph import current_health

    with lab.store() as st, st.read():
        t = topology.load(st)
        conn = lab.connection()
        nodes = []
        for n in t.all_nodes:
            p = t.partition_of(n)
            nodes.append({
                "node": n,
                "power": "on" if t.power.get(n) else "off",
                "member": t.is_member(n),
                "quorate": t.quorate(n),
                "partition": ",".join(p.nodes) if p else "",
                "votes": f"{p.votes}/{p.expected}" if p else "",
                "guests": [f"{'vm' if g['type'] == 'qemu' else 'ct'}:{g['vmid']}({g['status']})"
                           for g in st.query("SELECT * FROM guests WHERE node = ? ORDER BY vmid", (n,))],
            })
        crm = {r["sid"]: dict(r) for r in st.query("SELECT * FROM ha_services ORDER BY sid")}
        services = []
        for s in parse_sections(st.get_file(HA_RESOURCES), "resources"):
            row = crm.get(s.id)
            services.append({"sid": s.id, "request": s.props.get("state", "started"),
                             "node": row["node"] if row else "", "state": row["state"] if row else "queued"})
        ceph = current_health(st, lab.paths.root) if st.get_file(CEPH_CONF) is not None else None
        faults_ = st.get_meta("api_faults", {}) or {}
        fail_once = [r["prefix"] for r in st.query("SELECT prefix FROM fail_once ORDER BY id")]
        return {
            "name": lab.name,
            "api_url": conn["api_url"],
            "pve_version": conn["pve_version"],
            "cluster": t.conf.cluster_name if t.conf else None,
            "nodes": nodes,
            "ha": services,
            "ceph": ceph,
            "partitions": st.get_meta("partitions"),
            "faults": {**faults_, "fail_once": fail_once},
            "real": parts.summary(lab.paths.root, t.conf) if real.enabled(lab.paths.root) else None,
        }


def env(name: str, node: str) -> str:
    lab = Lab.named(name)
    if not lab.exists():
        raise LabError(f"lab '{name}' does not exist")
    lab.require_node(node)
    p = lab.paths
    return (f"export PVE_LAB_DIR='{p.root}'\nexport PVE_LAB_NODE='{node}'\n"
            f"export PATH='{p.bin}':\"$PATH\"\n")
