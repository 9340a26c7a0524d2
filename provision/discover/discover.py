"""Discovery: read the live cluster into a `Cluster` plus `Observed` facts.

One wave of concurrent GETs: the cluster-wide endpoints, and, as soon as
`/cluster/status` has said which nodes exist and are online, one request per endpoint
per node and the Ceph endpoints once through one node. A node the stack names that is not a
member is read through its own API (`provision.discover.bootstrap`): the
cluster's API cannot answer for it, and its token exists only there. The number
of requests therefore depends on the number of nodes only, never on how many
bonds, OSDs, pools or HA resources exist. Everything after fetching is pure (`assemble`), so the
whole mapping is tested over JSON fixtures.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import ValidationError

from provision.discover.alerts import ALERT_ENDPOINTS, normalise_alerts
from provision.discover.capacity import normalise_capacity
from provision.discover.ceph import installed_ceph, normalise_ceph
from provision.discover.client import ApiClient
from provision.discover.cluster import ClusterStatus, normalise_status, normalise_version
from provision.discover.corosync import (
    DEFAULT_CIPHER,
    DEFAULT_HASH,
    normalise_corosync,
    normalise_nodes,
    normalise_qdevice,
)
from provision.discover.datacenter import normalise_datacenter, normalise_policy
from provision.discover.errors import ConfigError, DiscoveryError, PermanentError, UnmodelledError
from provision.discover.guests import normalise_guests
from provision.discover.ha import (
    migrated_group_rules,
    normalise_crs,
    normalise_groups,
    normalise_resources,
    normalise_rules,
)
from provision.discover.ha_status import PATH as HA_STATUS_PATH
from provision.discover.ha_status import disarm_notes
from provision.discover.network import AnyInterface, interface_records, normalise_network
from provision.discover.observed import MemberState, Observed, fingerprint_of
from provision.discover.storage import normalise_storages
from provision.spec.cluster import Cluster
from provision.spec.corosync import Corosync, Quorum
from provision.spec.ha import Ha
from provision.spec.network import Bond, Bridge, Nic, Vlan
from provision.spec.node import Node, Ssh

# key -> (path, params, optional)
CLUSTER_ENDPOINTS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "status": ("/cluster/status", {}, False),
    "version": ("/version", {}, True),
    "corosync_nodes": ("/cluster/config/nodes", {}, True),  # fails (424/500) when not clustered
    "totem": ("/cluster/config/totem", {}, True),
    "qdevice": ("/cluster/config/qdevice", {}, True),
    "storage": ("/storage", {}, False),
    "ha_groups": ("/cluster/ha/groups", {}, True),  # PVE 9: dies once groups are migrated
    "ha_rules": ("/cluster/ha/rules", {}, True),  # PVE 8: no such endpoint
    "ha_resources": ("/cluster/ha/resources", {}, False),
    "guests": ("/cluster/resources", {"type": "vm"}, False),
    "node_resources": ("/cluster/resources", {"type": "node"}, True),  # capacity (import, what-if)
    "options": ("/cluster/options", {}, True),  # datacenter.cfg: ha.crs and policy, datacenter
    **ALERT_ENDPOINTS,  # notification targets/matchers (PVE >= 8.1), backup jobs
    "ha_manager_status": (HA_STATUS_PATH, {}, True),  # only to say when HA is disarmed (PVE 9)
}
# key -> (path, params); `skipsmart=1`: without it PVE runs smartctl on every disk
# (pve-storage Diskmanage.pm get_disks), slow on disk-heavy nodes, and discovery needs
# neither health nor wearout.
NODE_ENDPOINTS: dict[str, tuple[str, dict[str, Any]]] = {
    "network": ("/nodes/{node}/network", {}),
    "disks": ("/nodes/{node}/disks/list", {"skipsmart": 1}),
    "packages": ("/nodes/{node}/apt/versions", {}),
}
# corosync.conf, inside a node's report: asked only when no corosync-qdevice answered
# (provision.discover.corosync says why).
REPORT_PATH = "/nodes/{node}/report"
# Cluster-wide Ceph answers, asked once through one node; all optional (Ceph may
# not be initialised).
CEPH_ENDPOINTS: dict[str, str] = {
    "conf": "/nodes/{node}/ceph/cfg/raw",
    "mon": "/nodes/{node}/ceph/mon",
    "mgr": "/nodes/{node}/ceph/mgr",
    "mds": "/nodes/{node}/ceph/mds",
    "osd": "/nodes/{node}/ceph/osd",
    "pool": "/nodes/{node}/ceph/pool",
    "fs": "/nodes/{node}/ceph/fs",
}


@dataclass
class Responses:
    """Raw API answers, keyed by what they are (None = not available)."""

    cluster: dict[str, Any] = field(default_factory=dict)
    networks: dict[str, Any] = field(default_factory=dict)
    disks: dict[str, Any] = field(default_factory=dict)
    packages: dict[str, Any] = field(default_factory=dict)
    ceph: dict[str, Any] = field(default_factory=dict)
    report: str | None = None
    """`/nodes/{report_node}/report`, read only when no corosync-qdevice answered."""
    report_node: str | None = None
    unreadable: dict[str, str] = field(default_factory=dict)
    bootstrap: list[str] = field(default_factory=list)  # nodes read through their own API
    node_requests: int = 0  # requests sent to those nodes' own APIs


@dataclass
class Discovery:
    """The observed cluster, its facts, and what it cost to read."""

    cluster: Cluster
    observed: Observed
    requests: int = 0
    seconds: float = 0.0


DEFAULT_WORKERS = 32
"""Requests in flight at most (a discovery of 32 nodes makes about 130)."""

Job = tuple[ApiClient, str, dict[str, Any], bool, int | None]  # client, path, params, optional, attempts
NodeClient = Callable[[str], ApiClient]
"""Node name -> a client of that node's own API (raises ConfigError when there is none)."""


def _submit(pool: ThreadPoolExecutor, jobs: dict[str, Job]) -> dict[str, Future[Any]]:
    return {key: pool.submit(client.get, path, params, optional=opt, attempts=tries)
            for key, (client, path, params, opt, tries) in jobs.items()}


def _collect(futures: dict[str, Future[Any]]) -> dict[str, Any]:
    """Wait for the answers; a permanent error on a required endpoint stops all."""
    out: dict[str, Any] = {}
    errors: list[DiscoveryError] = []
    for key, fut in futures.items():
        try:
            out[key] = fut.result()
        except DiscoveryError as exc:
            errors.append(exc)
    if errors:
        # Prefer the most actionable cause (auth/TLS/connect) over generic ones.
        errors.sort(key=lambda e: 0 if isinstance(e, PermanentError) and type(e).__name__ != "ApiError" else 1)
        raise errors[0]
    return out


def _check_own(node: str, client: ApiClient, rows: Any) -> None:
    """A node's own API must answer as that node, and as a node outside any cluster."""
    status = normalise_status(rows or [])
    if status.local_node != node:
        raise ConfigError(f"{client.label} answers as node {status.local_node!r}, not as {node}: "
                          "its URL names another node")
    if status.clustered:
        raise ConfigError(f"{node} ({client.label}) is a member of cluster {status.name!r}, not of the cluster "
                          "the connection reaches")


class Fetch:
    """A discovery under way. The cluster-wide requests leave when it is made, so they can
    be in flight while the caller is still loading the stack; `finish` adds what depends
    on the stack (which nodes it names) and on `/cluster/status` (which nodes are online).

    One wave: the per-node and Ceph requests leave as soon as `/cluster/status` has said
    which nodes are online, while the other cluster-wide requests are still under way, so
    a discovery takes about two round trips whatever the cluster's size. Up to `workers`
    requests are in flight; threads are started only for requests that are waiting.
    `nodes` (how many nodes the stack names, when known) only sizes the pool. Use it as a
    context manager, or `close()` it: that cancels what has not left yet."""

    def __init__(self, client: ApiClient, workers: int = DEFAULT_WORKERS, nodes: int = 1) -> None:
        planned = len(CLUSTER_ENDPOINTS) + len(NODE_ENDPOINTS) * max(nodes, 1) + len(CEPH_ENDPOINTS) + 1
        self.client = client
        self.started = time.monotonic()
        self._before = client.requests
        self._finishing = False
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(workers, planned)), thread_name_prefix="discover")
        self._cluster = _submit(self._pool, {k: (client, *v, None) for k, v in CLUSTER_ENDPOINTS.items()})

    def __enter__(self) -> Fetch:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """End the discovery. Closed before `finish`, it is abandoned (the stack did not
        load): nothing more is sent and nothing is waited for; a request already on the
        wire ends with its timeout. From `finish`, the requests still out are waited for,
        as a failed discovery always did."""
        if self._finishing:
            self._pool.shutdown(wait=True, cancel_futures=True)
        else:
            self.client.abandon()
            self._pool.shutdown(wait=False, cancel_futures=True)

    def finish(self, hint_nodes: Iterable[str] = (), node_client: NodeClient | None = None,
               read_report: bool = True, meanwhile: Callable[[], None] | None = None) -> Responses:
        """Every answer. `hint_nodes` are node names the stack expects; those that are not
        (yet) members are read through `node_client` (their own API), so a blank node or a
        node about to join still shows its network. Without `node_client` they are tried
        once through the cluster's API, which on PVE can only say that it does not know
        them. `meanwhile` runs once every request has left, before the answers are
        awaited: CPU work that would otherwise wait for them."""
        self._finishing = True
        resp = Responses()
        own: dict[str, ApiClient] = {}
        try:
            try:
                status_rows = self._cluster["status"].result()
            except DiscoveryError:
                _collect(self._cluster)  # raises the most actionable of the cluster-wide errors
                raise
            status = normalise_status(status_rows or [])
            jobs, own, ceph_node = _node_jobs(self.client, status, set(hint_nodes), node_client, resp)
            per_node = _submit(self._pool, jobs)
            if meanwhile is not None:
                meanwhile()
            resp.cluster = _collect(self._cluster)
            if ceph_node and read_report and status.clustered and not resp.cluster.get("qdevice"):
                # no daemon answered: corosync.conf decides whether a QDevice is configured
                resp.report_node = ceph_node
                per_node.update(_submit(self._pool, {f"report:{ceph_node}": (
                    self.client, REPORT_PATH.format(node=ceph_node), {}, True, None)}))
            got = _collect(per_node)
        finally:
            self.close()
            resp.node_requests = sum(c.requests for c in own.values())
        for node, own_client in own.items():
            _check_own(node, own_client, got.get(f"whoami:{node}"))
        resp.bootstrap = sorted(own)
        for job, value in got.items():
            kind, _, node = job.partition(":")
            if kind == "ceph":
                resp.ceph[node] = value
            elif kind == "network":
                if value is None:
                    resp.unreadable[node] = "its network could not be read (not reachable through the API)"
                else:
                    resp.networks[node] = value
            elif kind == "disks" and value is not None:
                resp.disks[node] = value
            elif kind == "packages" and value is not None:
                resp.packages[node] = value
            elif kind == "report":
                resp.report = value if isinstance(value, str) else None
        return resp

    def discover(self, hint_nodes: Iterable[str] = (), node_client: NodeClient | None = None,
                 read_report: bool = True, meanwhile: Callable[[], None] | None = None) -> Discovery:
        """`finish`, then `assemble`: the Discovery (see `discover`)."""
        resp = self.finish(hint_nodes, node_client, read_report, meanwhile)
        try:
            cluster, observed = assemble(resp)
        except ValidationError as exc:
            # Parsers skip what they cannot model item by item (with a note); what is left
            # is a whole-cluster value outside the spec's range, e.g. a totem token < 1000.
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            value = repr(err["input"])
            value = value if len(value) <= 60 else value[:57] + "..."
            raise UnmodelledError(f"{exc.title.lower()}.{where}: {err['msg']} (the cluster has {value}); "
                                  "pve-provision cannot describe this configuration") from None
        return Discovery(cluster, observed, self.client.requests - self._before + resp.node_requests,
                         time.monotonic() - self.started)


def fetch(client: ApiClient, hint_nodes: Iterable[str] = (), workers: int = DEFAULT_WORKERS,
          node_client: NodeClient | None = None, read_report: bool = True) -> Responses:
    """Read everything discovery needs in one go (`Fetch` says how)."""
    hints = list(hint_nodes)
    with Fetch(client, workers, len(hints)) as started:
        return started.finish(hints, node_client, read_report)


def _node_jobs(client: ApiClient, status: ClusterStatus, hints: set[str], node_client: NodeClient | None,
               resp: Responses) -> tuple[dict[str, Job], dict[str, ApiClient], str | None]:
    """The requests that follow from `/cluster/status`: each online node's endpoints (a
    hinted node outside the cluster through its own API), and the Ceph endpoints through
    one node. Also: the clients of those own APIs, and the node Ceph is read through."""
    members = set(status.nodes) if status.clustered else set()
    online = [n for n, m in status.nodes.items() if m.online]
    extra = sorted(hints - members - set(status.nodes))
    own = {n: node_client(n) for n in extra} if node_client is not None else {}
    for name, member in status.nodes.items():
        if not member.online:
            resp.unreadable[name] = "node is offline"
    jobs: dict[str, Job] = {}
    for node in sorted(online) + extra:
        via = own.get(node, client)
        for key, (path, params) in NODE_ENDPOINTS.items():
            # a hinted node tried through the cluster's API is tried once: it may simply not exist yet
            tries = 1 if node in extra and node not in own else None
            jobs[f"{key}:{node}"] = (via, path.format(node=node), dict(params), True, tries)
    for node, own_client in own.items():
        jobs[f"whoami:{node}"] = (own_client, "/cluster/status", {}, False, None)
    ceph_node = status.local_node or (sorted(online)[0] if online else None)
    if ceph_node:
        for key, path in CEPH_ENDPOINTS.items():
            jobs[f"ceph:{key}"] = (client, path.format(node=ceph_node), {}, True, None)
    return jobs, own, ceph_node


def _ip(text: str | None) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(text) if text else None
    except ValueError:
        return None


def _mgmt_address(member_ip: str | None, interfaces: list[AnyInterface], ring0: str | None) -> ipaddress.IPv4Address:
    """The node's management address: what its name resolves to (`ip` in
    /cluster/status), else the gateway interface's address, else link 0."""
    ip = _ip(member_ip)
    if ip:
        return ip
    for iface in interfaces:
        if iface.gateway is not None and iface.address is not None:
            return iface.address.ip
    return _ip(ring0) or ipaddress.IPv4Address("0.0.0.0")


def assemble(resp: Responses) -> tuple[Cluster, Observed]:
    """Pure: raw answers -> (observed Cluster, Observed facts)."""
    c = resp.cluster
    obs = Observed()
    status = normalise_status(c.get("status") or [])
    obs.pve_version, obs.pve_release = normalise_version(c.get("version"))
    obs.clustered, obs.cluster_name, obs.quorate = status.clustered, status.name, status.quorate
    obs.config_version, obs.local_node = status.config_version, status.local_node
    obs.unreadable = dict(sorted(resp.unreadable.items()))
    obs.bootstrap = list(resp.bootstrap)

    interfaces: dict[str, list[AnyInterface]] = {}
    for node, data in sorted(resp.networks.items()):
        ifaces, notes = normalise_network(data or [], node)
        interfaces[node] = ifaces
        obs.notes.extend(notes)
        obs.interfaces_api[node] = interface_records(data or [])
    addresses = {n: [i.address for i in ifs if i.address is not None] for n, ifs in interfaces.items()}

    coro_nodes = normalise_nodes(c.get("corosync_nodes") or []) if status.clustered else []
    capacity = normalise_capacity(c.get("node_resources"))
    nodes: list[Node] = []
    for cn in coro_nodes:
        st = status.nodes.get(cn.name)
        obs.members[cn.name] = MemberState(
            name=cn.name, nodeid=cn.nodeid, votes=cn.votes, online=bool(st and st.online),
            local=bool(st and st.local), ip=st.ip if st else None,
        )
        ifaces = interfaces.get(cn.name, [])
        nodes.append(Node(
            name=cn.name, nodeid=max(cn.nodeid, 1), votes=cn.votes,
            address=_mgmt_address(st.ip if st else None, ifaces, cn.links.get(0)),
            interfaces=list(ifaces), capacity=capacity.get(cn.name),
        ))
    for name in sorted(interfaces):
        if name in obs.members:
            continue
        obs.standalone.append(name)
        st = status.nodes.get(name)
        # Not a member: no nodeid yet. nodeid 0 marks "not in the cluster" (the same
        # value /cluster/status reports for a standalone node).
        nodes.append(Node.model_construct(
            name=name, nodeid=0, votes=1, address=_mgmt_address(st.ip if st else None, interfaces[name], None),
            ssh=Ssh(), interfaces=list(interfaces[name]), capacity=None,
        ))

    qdevice, obs.qdevice_state = None, None
    if status.clustered:
        qdevice, obs.qdevice_state, qdevice_notes = normalise_qdevice(c.get("qdevice"), resp.report,
                                                                      resp.report_node or status.local_node)
        obs.notes.extend(qdevice_notes)
    ceph_raw = resp.ceph
    ceph, obs.ceph_fsid, obs.mons, obs.osds, ceph_notes = normalise_ceph(
        ceph_raw.get("conf"), ceph_raw.get("mon"), ceph_raw.get("mgr"), ceph_raw.get("mds"), ceph_raw.get("osd"),
        ceph_raw.get("pool"), ceph_raw.get("fs"), {n: d or [] for n, d in resp.disks.items()}, addresses,
    )
    obs.ceph_initialised = ceph is not None
    obs.ceph_installed = {n: installed_ceph(p) for n, p in sorted(resp.packages.items())}
    obs.ceph_networks_known = bool(ceph_raw.get("conf"))
    obs.notes.extend(ceph_notes)
    storages, storage_notes = normalise_storages(c.get("storage") or [])
    obs.notes.extend(storage_notes)
    groups = normalise_groups(c.get("ha_groups"))
    rules = normalise_rules(c.get("ha_rules"))
    resources = normalise_resources(c.get("ha_resources"))
    migrated = migrated_group_rules(rules)
    if migrated and not groups:
        obs.ha_groups_migrated = True
        names = ", ".join(r.name for r in migrated)
        obs.notes.append(f"HA groups were migrated by PVE 9 to node-affinity rules ({names})")
    guests = normalise_guests(c.get("guests"))

    version = obs.pve_version if obs.pve_version in (8, 9) else (9 if (obs.pve_version or 0) > 9 else 8)
    obs.options_known = c.get("options") is not None
    ha = Ha.model_validate({"crs": normalise_crs(c.get("options")), "groups": groups, "rules": rules,
                            "resources": resources, **normalise_policy(c.get("options"))})
    datacenter, datacenter_notes = normalise_datacenter(c.get("options"))
    obs.notes.extend(datacenter_notes)
    quorum = Quorum(qdevice=qdevice)
    if status.clustered and coro_nodes:
        corosync = normalise_corosync(coro_nodes, c.get("totem") or {}, addresses)
        cluster = Cluster(
            name=obs.cluster_name or "unnamed", pve_version=version, nodes=nodes,
            corosync=corosync, quorum=quorum, ceph=ceph, storage=list(storages), ha=ha, guests=guests,
            datacenter=datacenter,
        )
    else:
        # Not a cluster yet: no name, no links. model_construct keeps the shape the
        # planner expects without pretending a cluster exists.
        corosync = Corosync.model_construct(links=[], transport="knet", crypto_cipher=cast(Any, DEFAULT_CIPHER),
                                            crypto_hash=cast(Any, DEFAULT_HASH), token=None, token_coefficient=None)
        cluster = Cluster.model_construct(
            name="", pve_version=cast(Any, version), connection=None, nodes=nodes, corosync=corosync, quorum=quorum,
            ceph=ceph, storage=list(storages), ha=ha, guests=guests, datacenter=datacenter,
        )
    cluster.notifications, cluster.backups, alert_notes = normalise_alerts(c)
    obs.notes.extend(alert_notes)
    obs.notes.extend(disarm_notes(c.get("ha_manager_status")))
    obs.notes = sorted(set(obs.notes))
    obs.fingerprint = fingerprint_of(cluster.model_dump(mode="json"), obs)
    return cluster, obs


def discover(client: ApiClient, hint_nodes: Iterable[str] = (), workers: int = DEFAULT_WORKERS,
             node_client: NodeClient | None = None, read_report: bool = True) -> Discovery:
    """Fetch and assemble; raises a DiscoveryError subclass with a one-line cause.
    `node_client` reaches the own API of a hinted node that is not a member.
    `read_report=False` skips the node report (PVE builds it by running many commands,
    seconds on a real node) that tells a stopped QDevice daemon from no QDevice: a plan
    whose stack declares no QDevice has nothing to protect by it."""
    hints = list(hint_nodes)
    with Fetch(client, workers, len(hints)) as started:
        return started.discover(hints, node_client, read_report)


__all__ = ["Bond", "Bridge", "Discovery", "Fetch", "Nic", "NodeClient", "Responses", "Vlan", "assemble", "discover",
           "fetch"]
