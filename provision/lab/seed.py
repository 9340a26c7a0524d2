"""``lab up --from STACK``: a lab that already looks the way a stack describes it.

The hardware follows the stack (node names, management addresses, NICs, OSD disks,
memory, guests); then the configuration is built by calling the lab's own handlers in the
order an admin would (network, cluster create/join, QDevice, Ceph, storage, HA), so the
result is exactly what those API calls produce on a real cluster. This is the only place
the lab reads ``provision.spec``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provision.lab import hardware, hosts
from provision.lab.hardware import GuestHW, NodeHW
from provision.lab.ops import cluster as cluster_ops
from provision.lab.ops import ha as ha_ops
from provision.lab.ops import network, packages
from provision.lab.paths import LabPaths
from provision.lab.registry import ApiError, Ctx, call, check_params, resolve
from provision.lab.seed_alerts import seed_alerts
from provision.lab.store import Store
from provision.pveformat import interfaces as ifs
from provision.spec import Bond, Bridge, Cluster, Nic, SpecError, Vlan, load_stack
from provision.spec.dcoptions import pve_option_values


class SeedError(Exception):
    """The stack cannot be loaded or built; the message says which step failed."""


def load(path: Path) -> Cluster:
    try:
        return load_stack(path).cluster
    except SpecError as exc:
        raise SeedError(f"{path}: invalid stack:\n{exc}") from None
    except OSError as exc:
        raise SeedError(f"{path}: {exc.strerror or exc}") from None


def seed_from_stack(store: Store, paths: LabPaths, spec: Cluster, *, configure: bool = True) -> list[str]:
    """Seed hardware for ``spec`` and (unless not ``configure``) configure it through the
    handlers; returns node names."""
    nodes = []
    for n in spec.nodes:
        nics = list(hardware.NICS)
        for i in n.interfaces:
            if isinstance(i, Nic) and i.name not in nics:
                nics.append(i.name)
            if isinstance(i, Bond):
                nics += [s for s in i.slaves if s not in nics]
        disks = []
        if spec.ceph is not None:
            for o in spec.ceph.osds:
                if o.node == n.name:
                    disks += [d for d in (o.device, o.db_device, o.wal_device) if d]
        cap = n.capacity
        nodes.append(NodeHW(n.name, str(n.address), cap.memory_mib if cap else 131072, cap.cores if cap else 32,
                            tuple(nics), tuple(disks)))
    guests = [
        GuestHW(int(g.sid.split(":")[1]), "qemu" if g.sid.startswith("vm:") else "lxc",
                g.name or f"{g.sid.split(':')[0]}{g.sid.split(':')[1]}", g.node, g.memory_mib or 2048, g.cores or 1)
        for g in spec.guests
    ] or hardware.blank_guests([n.name for n in spec.nodes])
    hardware.seed_nodes(store, paths, nodes, guests, spec.pve_version)
    names = [n.name for n in spec.nodes]
    if not configure:
        return names
    step = "network"
    try:
        _network(store, paths, spec)
        step = "cluster"
        _cluster(store, paths, spec)
        step = "ceph"
        _ceph(store, paths, spec)
        step = "storage"
        _storage(store, paths, spec)
        step = "ha"
        _ha(store, paths, spec)
        step = "notifications and backup jobs"
        seed_alerts(_ctx(store, paths, spec.nodes[0].name), spec)
    except ApiError as exc:
        detail = "; ".join(f"{k}: {v}" for k, v in (exc.errors or {}).items())
        raise SeedError(f"building the stack's {step} in the lab failed: {exc.message.strip()}"
                        + (f" ({detail})" if detail else "")) from None
    return names


def seed_network(store: Store, paths: LabPaths, spec: Cluster) -> None:
    """Only the stack's network, on a blank lab of its machines: what the nodes look like
    after its network phase, so a benchmark can time the later phases of a build from
    blank without first waiting for the serial one (bench/apply_full_build.py)."""
    _network(store, paths, spec)


def _ctx(store: Store, paths: LabPaths, node: str) -> Ctx:
    return Ctx(store, paths, node, "root@pam")


def _worker(ctx: Ctx, method: str, path: str, params: dict[str, Any]) -> None:
    """A call that starts a worker task: a failed task fails the seed like an API error."""
    upid = call(ctx, method, path, params)
    row = ctx.store.one("SELECT exitstatus FROM tasks WHERE upid = ?", (upid,))
    if row is not None and row["exitstatus"] != "OK":
        raise ApiError(500, str(row["exitstatus"]))


def _iface_params(i: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"autostart": "1" if i.autostart else "0"}
    if i.address is not None:
        p["cidr"] = str(i.address)
    if i.gateway is not None:
        p["gateway"] = str(i.gateway)
    if i.mtu is not None:
        p["mtu"] = str(i.mtu)
    if i.comment:
        p["comments"] = i.comment
    if isinstance(i, Bond):
        p.update(slaves=" ".join(i.slaves), bond_mode=i.mode)
        if i.xmit_hash_policy:
            p["bond_xmit_hash_policy"] = i.xmit_hash_policy
        if i.primary:
            p["bond-primary"] = i.primary
    elif isinstance(i, Bridge):
        p["bridge_ports"] = " ".join(i.ports)
        if i.vlan_aware:
            p.update(bridge_vlan_aware="1", bridge_vids=i.vids)
    elif isinstance(i, Vlan) and "." not in i.name:
        p.update({"vlan-raw-device": i.raw_device, "vlan-id": str(i.tag)})
    return p


def _network(store: Store, paths: LabPaths, spec: Cluster) -> None:
    """Write each node's interfaces file as PVE would after the stack's network edits."""
    kinds = {Nic: "eth", Bond: "bond", Bridge: "bridge", Vlan: "vlan"}
    for n in spec.nodes:
        ctx = _ctx(store, paths, n.name)
        cfg = network.load(ctx, n.name)
        for i in n.interfaces:
            d = cfg.get(i.name)
            if d is None:
                d = ifs.Iface(name=i.name, type=kinds[type(i)], families=["inet"], method="manual", method6="manual")
                cfg.add(d)
            network._apply_params(d, _iface_params(i))
            if isinstance(i, Bond) and i.lacp_rate:
                # The PVE API has no LACP-rate parameter; admins add the ifupdown2 line by
                # hand, and PVE keeps it as an unknown option line of the stanza.
                d.options = [o for o in d.options if not o.startswith("bond-lacp-rate")]
                d.options.append(f"bond-lacp-rate {i.lacp_rate}")
        try:
            text = ifs.write(cfg)
        except ifs.InterfacesError as exc:
            raise ApiError(500, f"{n.name}: {exc}") from None
        paths.interfaces(n.name).write_text(text)
        if n.ha_watchdog_module is not None:  # an admin who configured it when installing the node
            line = f"WATCHDOG_MODULE={n.ha_watchdog_module}"
            paths.ha_manager_default(n.name).write_text(
                hardware.HA_MANAGER_DEFAULT.replace("#WATCHDOG_MODULE=ipmi_watchdog", line))


def _cluster(store: Store, paths: LabPaths, spec: Cluster) -> None:
    first, *others = spec.nodes

    def links(node: str) -> dict[str, str]:
        out = {}
        for link in spec.corosync.links:
            addr = link.addresses.get(node)
            if addr is not None:
                prio = f",priority={link.priority}" if link.priority and node == first.name else ""
                out[f"link{link.number}"] = f"{addr}{prio}"
        return out

    params: dict[str, Any] = {"clustername": spec.name, "nodeid": first.nodeid, "votes": first.votes or 1,
                              **links(first.name)}
    call(_ctx(store, paths, first.name), "POST", "/cluster/config", params)
    if spec.corosync.token_coefficient is not None:
        # `pvecm create --token-coefficient` needs pve-cluster 9.1; before that an admin
        # edits totem in corosync.conf, as the lab does here
        ctx = _ctx(store, paths, first.name)
        conf = cluster_ops.read_conf(ctx)
        assert conf is not None
        conf.token_coefficient = spec.corosync.token_coefficient
        conf.config_version += 1
        cluster_ops.save_conf(ctx, conf)
    for n in others:
        cluster_ops.join(_ctx(store, paths, n.name), {"hostname": str(first.address), "nodeid": n.nodeid,
                                                       "votes": n.votes, **links(n.name)}, check_fingerprint=False)
    if spec.quorum.qdevice is not None:
        q = spec.quorum.qdevice
        # what the admin prepared (pvecm.adoc, "QDevice-Net Setup"): the QNetd host with
        # corosync-qnetd, corosync-qdevice on every node, root SSH trust to the QNetd host
        hosts.add_qnetd(store, paths, q.host)
        debian = packages.DEBIAN[spec.pve_version]
        with store.tx():
            packages.install(store, q.host, {"corosync-qnetd": debian["corosync-qnetd"]})
            for n in spec.nodes:
                packages.install(store, n.name, {"corosync-qdevice": debian["corosync-qdevice"]})
        hosts.trust(paths, first.name, q.host)
        cluster_ops.qdevice_setup(_ctx(store, paths, first.name), q.host, force=q.algorithm == "lms")


def _ceph(store: Store, paths: LabPaths, spec: Cluster) -> None:
    c = spec.ceph
    if c is None:
        return
    first = spec.nodes[0].name
    for n in spec.nodes:  # `pveceph install` on every node, as an admin does first
        packages.install(store, n.name, packages.ceph_packages(
            spec.pve_version, c.release or packages.DEFAULT_RELEASE[spec.pve_version]))
    init: dict[str, Any] = {"network": str(c.public_network)}
    if c.cluster_network is not None:
        init["cluster-network"] = str(c.cluster_network)
    call(_ctx(store, paths, first), "POST", f"/nodes/{first}/ceph/init", init)
    for m in c.mons:
        call(_ctx(store, paths, m), "POST", f"/nodes/{m}/ceph/mon/{m}", {})
    have_mgr = {r["name"] for r in store.query("SELECT name FROM ceph_mgrs")}
    for m in c.mgrs:
        if m not in have_mgr:
            call(_ctx(store, paths, m), "POST", f"/nodes/{m}/ceph/mgr/{m}", {})
    for m in c.mdss:
        call(_ctx(store, paths, m), "POST", f"/nodes/{m}/ceph/mds/{m}", {})
    # the stack describes a cluster that has been running: its MDSs registered long ago
    store.exec("UPDATE ceph_mds SET created = created - 86400")
    for o in c.osds:
        p: dict[str, Any] = {"dev": o.device}
        if o.db_device:
            p["db_dev"] = o.db_device
        if o.db_size_gib:
            p["db_dev_size"] = o.db_size_gib
        if o.wal_device:
            p["wal_dev"] = o.wal_device
        if o.device_class:
            p["crush-device-class"] = o.device_class
        call(_ctx(store, paths, o.node), "POST", f"/nodes/{o.node}/ceph/osd", p)
    for pool in c.pools:
        pp: dict[str, Any] = {"name": pool.name, "size": pool.size, "min_size": pool.min_size,
                              "pg_autoscale_mode": pool.pg_autoscale_mode, "application": pool.application,
                              "crush_rule": pool.crush_rule, "add_storages": int(pool.add_storage)}
        if pool.pg_num is not None:
            pp["pg_num"] = pool.pg_num
        _worker(_ctx(store, paths, first), "POST", f"/nodes/{first}/ceph/pool", pp)
    for fs in c.filesystems:
        _worker(_ctx(store, paths, first), "POST", f"/nodes/{first}/ceph/fs/{fs.name}",
                {"pg_num": fs.pg_num, "add-storage": int(fs.add_storage)})


def _storage(store: Store, paths: LabPaths, spec: Cluster) -> None:
    ctx = _ctx(store, paths, spec.nodes[0].name)
    existing = {s["storage"]: s for s in call(ctx, "GET", "/storage", {})}
    for s in spec.storage:
        data = s.model_dump(exclude_none=True, mode="json")
        params: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("name", "keyring", "secret", "password", "encryption_key"):
                continue
            api_key = {"is_shared": "shared", "fs_name": "fs-name", "prune_backups": "prune-backups",
                       "data_pool": "data-pool"}.get(key, key)
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            if isinstance(value, bool):
                value = int(value)
            if value in ("", None):
                continue
            params[api_key] = value
        if params.get("content") == "":
            params.pop("content")
        if s.name in existing:
            params.pop("type", None)
            for fixed in ("pool", "path", "vgname", "thinpool", "server", "export", "datastore"):
                params.pop(fixed, None)
            call(ctx, "PUT", f"/storage/{s.name}", params)
        else:
            call(ctx, "POST", "/storage", {"storage": s.name, **params})


def _ha(store: Store, paths: LabPaths, spec: Cluster) -> None:
    ctx = _ctx(store, paths, spec.nodes[0].name)

    def nodes(prios: dict[str, int]) -> str:
        return ",".join(f"{n}:{p}" if p else n for n, p in prios.items())

    options = {k: v if isinstance(v, str) else ",".join(f"{sub}={x}" for sub, x in sorted(v.items()))
               for k, v in pve_option_values(spec).items()}
    if options.get("crs") == "ha=basic":  # datacenter.cfg's default: nothing to write
        del options["crs"]
    if options:
        call(ctx, "PUT", "/cluster/options", options)
    for g in spec.ha.groups:
        p: dict[str, Any] = {"group": g.name, "nodes": nodes(g.nodes), "restricted": int(g.restricted),
                             "nofailback": int(g.nofailback)}
        if g.comment:
            p["comment"] = g.comment
        call(ctx, "POST", "/cluster/ha/groups", p)
    route, _ = resolve("POST", "/cluster/ha/resources", spec.pve_version)
    many: list[dict[str, Any]] = []
    for r in spec.ha.resources:
        rp: dict[str, Any] = {"sid": r.sid, "state": r.state, "max_restart": r.max_restart,
                              "max_relocate": r.max_relocate}
        if r.group:
            rp["group"] = r.group
        if r.comment:
            rp["comment"] = r.comment
        if spec.pve_version >= 9 and not r.failback:
            rp["failback"] = 0
        check_params(route, rp, spec.pve_version)
        many.append(rp)
    # the POSTs one after the other, as one edit of resources.cfg (thousands stay linear)
    ha_ops.add_resources(ctx, many)
    for rule in spec.ha.rules:
        qp: dict[str, Any] = {"type": rule.type, "rule": rule.name, "resources": ",".join(rule.resources)}
        if rule.type == "node-affinity":
            qp.update(nodes=nodes(rule.nodes), strict=int(rule.strict))
            if rule.affinity == "negative":
                qp["affinity"] = "negative"
        else:
            qp["affinity"] = rule.affinity
        if rule.disable:
            qp["disable"] = 1
        if rule.comment:
            qp["comment"] = rule.comment
        call(ctx, "POST", "/cluster/ha/rules", qp)
