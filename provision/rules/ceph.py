"""Hyper-converged Ceph: daemons, pools, OSD devices and networks
(pveceph.adoc, Ceph's "Monitor Config Reference" and "Pools")."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator

from provision.rules.registry import Hit, Loc, rule
from provision.rules.topology import carrier_in
from provision.spec import Cluster

#: The CRUSH rule pveceph creates: replicas on distinct hosts.
DEFAULT_CRUSH_RULE = "replicated_rule"


@rule("PVE-CEPH001", "warning", "MON count even or below 3")
def mon_count(c: Cluster) -> Iterator[Hit]:
    """Monitors form a Paxos quorum that needs a strict majority. Fewer than three
    cannot lose one (pveceph.adoc: "at least 3 monitors" for high availability), and
    an even count tolerates no more failures than one fewer while adding another
    voter that must be reached.

    Fix: run three monitors (five for large clusters), each on a different node.
    """
    ceph = c.ceph
    if ceph is None:
        return
    n = len(ceph.mons)
    if n < 3 or n % 2 == 0:
        tolerated = max(0, (n - 1) // 2)
        yield Hit(
            ("ceph", "mons"),
            f"{n} monitor(s) tolerate {tolerated} failure(s)"
            + (f", the same as {n - 1}" if n >= 2 and n % 2 == 0 else "")
            + ": Ceph stops when its monitors lose their majority",
            "run 3 monitors on 3 different nodes",
        )


@rule("PVE-CEPH002", "info", "More than 5 MONs")
def many_mons(c: Cluster) -> Iterator[Hit]:
    """Every monitor takes part in each map update; beyond five they add latency and
    load without useful extra tolerance. pveceph.adoc: "You won't need more than 3
    monitors, as long as your cluster is small to medium-sized."

    Fix: keep 3 (or 5) monitors and remove the rest one at a time.
    """
    if c.ceph is not None and len(c.ceph.mons) > 5:
        yield Hit(("ceph", "mons"), f"{len(c.ceph.mons)} monitors; 3 or 5 are enough",
                  "remove monitors one at a time down to 5 (or 3)")


@rule("PVE-CEPH003", "warning", "Fewer than 2 MGRs")
def mgr_count(c: Cluster) -> Iterator[Hit]:
    """The manager runs the PG autoscaler, device health monitoring, the balancer
    and the status reporting Proxmox shows. Only one is active; without a standby a
    node failure leaves the cluster without them until the node returns
    (pveceph.adoc: "For high availability install more then one manager").

    Fix: add a manager on a second (and third) monitor node.
    """
    if c.ceph is not None and len(c.ceph.mgrs) < 2:
        n = len(c.ceph.mgrs)
        yield Hit(("ceph", "mgrs"), f"{n} manager(s): no standby takes over when " +
                  ("it fails" if n else "the cluster starts"),
                  "add managers on two or three monitor nodes")


@rule("PVE-CEPH004", "warning", "Pool size below 3")
def pool_size(c: Cluster) -> Iterator[Hit]:
    """With two replicas, any single disk or node failure leaves one copy: a second
    failure or a read error during recovery loses data, and with min_size 2 the pool
    stops I/O until recovery ends. Proxmox's default and recommendation is size 3,
    min_size 2.

    Fix: set `size: 3` (and `min_size: 2`), with enough OSD hosts for three copies.
    """
    if c.ceph is None:
        return
    for i, pool in enumerate(c.ceph.pools):
        if pool.size < 3:
            yield Hit(("ceph", "pools", i, "size"), f"pool {pool.name} keeps {pool.size} replica(s)",
                      "use size: 3, min_size: 2")


@rule("PVE-CEPH005", "error", "Pool min_size 1")
def pool_min_size_one(c: Cluster) -> Iterator[Hit]:
    """pveceph.adoc: "Do not set a min_size of 1". Writes are then acknowledged with
    a single copy; if that OSD dies before recovery the data is gone, and PGs can
    end up incomplete or with unfound objects.

    Fix: set `min_size: 2` (with `size: 3`).
    """
    if c.ceph is None:
        return
    for i, pool in enumerate(c.ceph.pools):
        if pool.min_size < 2:
            yield Hit(("ceph", "pools", i, "min_size"),
                      f"pool {pool.name} accepts writes with {pool.min_size} copy: one more failure loses data",
                      "set min_size: 2")


@rule("PVE-CEPH006", "warning", "Pool min_size equals size")
def pool_min_size_equals_size(c: Cluster) -> Iterator[Hit]:
    """With min_size equal to size, a single failed OSD drops PGs below min_size and
    Ceph blocks I/O to them: every guest on the pool hangs until recovery ends, so
    the replication buys no availability.

    Fix: set `min_size` one below `size` (size 3, min_size 2).
    """
    if c.ceph is None:
        return
    for i, pool in enumerate(c.ceph.pools):
        if pool.size > 1 and pool.min_size == pool.size:
            yield Hit(("ceph", "pools", i, "min_size"),
                      f"pool {pool.name} has min_size {pool.min_size} = size: one failed OSD blocks its I/O",
                      f"set min_size: {pool.size - 1}")


@rule("PVE-CEPH007", "error", "Fewer OSD hosts than a pool's size")
def osd_hosts_vs_size(c: Cluster) -> Iterator[Hit]:
    """The default CRUSH rule (`replicated_rule`) places each replica on a different
    host. With fewer OSD hosts than `size`, PGs stay undersized forever (HEALTH_WARN,
    no full redundancy); below `min_size` they never become active and I/O blocks.

    Fix: add OSDs on more nodes, or lower the pool size only if you accept the risk.
    """
    ceph = c.ceph
    if ceph is None:
        return
    hosts = ceph.osd_hosts()
    for i, pool in enumerate(ceph.pools):
        if pool.crush_rule == DEFAULT_CRUSH_RULE and len(hosts) < pool.size:
            state = "never active (I/O blocks)" if len(hosts) < pool.min_size else "undersized forever"
            yield Hit(("ceph", "pools", i, "size"),
                      f"pool {pool.name} wants {pool.size} replicas on distinct hosts but only "
                      f"{len(hosts)} node(s) have OSDs: its PGs are {state}",
                      f"add OSDs on at least {pool.size} nodes")


@rule("PVE-CEPH008", "error", "Disk used both as OSD and as DB/WAL device")
def device_reused(c: Cluster) -> Iterator[Hit]:
    """`pveceph osd create` takes whole disks. A disk that is one OSD's data device
    and another OSD's DB or WAL device would be wiped by whichever is created second,
    destroying the first.

    Fix: give each OSD its own data disk and put DB/WAL on disks that hold no OSD.
    """
    ceph = c.ceph
    if ceph is None:
        return
    data = {(o.node, o.device) for o in ceph.osds}
    for i, osd in enumerate(ceph.osds):
        for field in ("db_device", "wal_device"):
            dev = getattr(osd, field)
            if dev is not None and (osd.node, dev) in data:
                yield Hit(("ceph", "osds", i, field),
                          f"{osd.node}:{dev} is an OSD and also the {field.split('_')[0].upper()} device of "
                          f"OSD {osd.key}", "use a disk that holds no OSD")


@rule("PVE-CEPH009", "warning", "Shared DB device without db_size_gib")
def shared_db_without_size(c: Cluster) -> Iterator[Hit]:
    """Several OSDs may share one fast DB device, but without an explicit size each
    DB gets `bluestore_block_db_size` or 10 % of its OSD: the device can run full
    for the last OSDs, and the plan cannot tell whether the layout fits.

    Fix: set `db_size_gib` on every OSD that shares the DB device.
    """
    ceph = c.ceph
    if ceph is None:
        return
    users: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, osd in enumerate(ceph.osds):
        if osd.db_device is not None:
            users[(osd.node, osd.db_device)].append(i)
    for (node, dev), idx in users.items():
        if len(idx) < 2:
            continue
        for i in idx:
            if ceph.osds[i].db_size_gib is None:
                yield Hit(("ceph", "osds", i, "db_device"),
                          f"{node}:{dev} holds the DB of {len(idx)} OSDs; {ceph.osds[i].key} has no db_size_gib",
                          "set db_size_gib on each OSD sharing the device")


@rule("PVE-CEPH010", "info", "No separate Ceph cluster network")
def cluster_network(c: Cluster) -> Iterator[Hit]:
    """OSD replication, recovery and backfill go over the cluster network. Without a
    separate one they compete with client I/O of the guests on the public network;
    pveceph.adoc recommends a physically separated cluster network once there are
    three or more nodes.

    Fix: set `ceph.cluster_network` to a subnet on a separate (fast) NIC or bond.
    """
    ceph = c.ceph
    if ceph is None or len(c.nodes) < 3:
        return
    if ceph.cluster_network is None or ceph.cluster_network == ceph.public_network:
        loc: Loc = ("ceph", "cluster_network") if ceph.cluster_network is not None else ("ceph", "public_network")
        yield Hit(loc, "replication and recovery share the public network with client I/O",
                  "set ceph.cluster_network to a separate subnet")


@rule("PVE-CEPH011", "error", "CephFS without a metadata server")
def cephfs_without_mds(c: Cluster) -> Iterator[Hit]:
    """A CephFS file system cannot be mounted without an active MDS; `pveceph fs
    create` requires one to exist first.

    Fix: add nodes to `ceph.mdss` (two, so one is a standby).
    """
    ceph = c.ceph
    if ceph is not None and ceph.filesystems and not ceph.mdss:
        yield Hit(("ceph", "filesystems"), f"{len(ceph.filesystems)} CephFS file system(s) but no MDS",
                  "add two nodes to ceph.mdss")


@rule("PVE-CEPH012", "error", "OSD node without an address in the Ceph networks")
def osd_node_networks(c: Cluster) -> Iterator[Hit]:
    """OSDs bind to the public network (clients, MONs) and, if set, the cluster
    network (replication). A node with OSDs but no address in one of them cannot
    start its OSDs on the right network, or at all.

    Fix: give the node an interface address in each Ceph network.
    """
    ceph = c.ceph
    if ceph is None:
        return
    nets = [("public", ceph.public_network)]
    if ceph.cluster_network is not None and ceph.cluster_network != ceph.public_network:
        nets.append(("cluster", ceph.cluster_network))
    first_osd: dict[str, int] = {}
    for i, osd in enumerate(ceph.osds):
        first_osd.setdefault(osd.node, i)
    for name, i in first_osd.items():
        node = c.node(name)
        if node is None:
            continue
        for kind, net in nets:
            if node.address not in net and carrier_in(node, net) is None:
                yield Hit(("ceph", "osds", i, "node"),
                          f"{name} has OSDs but no address in the Ceph {kind} network {net}",
                          f"add an interface address in {net} on {name}")


@rule("PVE-CEPH013", "info", "MGR not on a MON node")
def mgr_on_mon(c: Cluster) -> Iterator[Hit]:
    """pveceph.adoc recommends installing managers on the monitor nodes: they talk
    to the monitors constantly, and keeping the control plane on the same few nodes
    makes maintenance order simple.

    Fix: move the manager to a monitor node.
    """
    ceph = c.ceph
    if ceph is None:
        return
    for i, mgr in enumerate(ceph.mgrs):
        if mgr not in ceph.mons:
            yield Hit(("ceph", "mgrs", i), f"manager on {mgr}, which runs no monitor",
                      "run managers on monitor nodes")


@rule("PVE-CEPH014", "info", "OSDs unevenly spread over nodes")
def uneven_osds(c: Cluster) -> Iterator[Hit]:
    """With host as failure domain each node holds one replica of every PG, so a
    node with fewer OSDs fills up first and limits the usable capacity of the whole
    pool; recovery after losing the biggest node also takes longest (pveceph.adoc:
    OSDs "evenly distributed among the nodes").

    Fix: give every OSD node the same number (and size) of OSDs.
    """
    ceph = c.ceph
    if ceph is None or not ceph.osds:
        return
    counts = Counter(o.node for o in ceph.osds)
    if len(set(counts.values())) > 1:
        spread = ", ".join(f"{n}: {k}" for n, k in sorted(counts.items()))
        yield Hit(("ceph", "osds"), f"OSDs per node differ ({spread})",
                  "use the same number and size of OSDs on every node")


@rule("PVE-CEPH015", "warning", "CephFS with a single metadata server")
def cephfs_single_mds(c: Cluster) -> Iterator[Hit]:
    """A CephFS is served by one active MDS; without a standby, losing that node takes
    the file system and every storage on it offline (Ceph reports MDS_ALL_DOWN,
    HEALTH_ERR) until the node returns. pveceph.adoc recommends a standby MDS.

    Fix: list a second node in `ceph.mdss` (it becomes the standby).
    """
    ceph = c.ceph
    if ceph is not None and ceph.filesystems and len(ceph.mdss) == 1:
        yield Hit(("ceph", "mdss"), f"only {ceph.mdss[0]} runs a metadata server: CephFS goes offline with it",
                  "add a second node to ceph.mdss as a standby")
