"""Ceph endpoints under `/nodes/{node}/ceph/` -> `Ceph` plus daemon facts.

All of them are cluster-wide answers served through one node, so discovery asks
one node once (pve-facts 1.8). The OSD tree gives ids, hosts, up/in and device
class; which whole disk an OSD lives on comes from each host's
`/nodes/{node}/disks/list` (`osdid`), because the tree's `blfsdev` may be a
device-mapper path on real clusters.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from provision.discover._values import as_bool, as_int
from provision.discover.observed import MonState, OsdState
from provision.spec.ceph import CEPH_MAJOR, Ceph, CephFs, Osd, Pool

INTERNAL_POOLS = frozenset({".mgr", "device_health_metrics"})
_PART = re.compile(r"^(/dev/(?:nvme\d+n\d+|mmcblk\d+))p\d+$|^(/dev/[a-z]+)\d+$")


def whole_disk(dev: str | None) -> str | None:
    """`/dev/sdb1` -> `/dev/sdb`, `/dev/nvme0n1p2` -> `/dev/nvme0n1`; others unchanged."""
    if not dev:
        return None
    match = _PART.match(dev)
    if match:
        return match.group(1) or match.group(2)
    return dev


def installed_ceph(packages: list[dict[str, Any]] | None) -> str:
    """`GET /nodes/{node}/apt/versions` -> the installed Ceph release codename, or "".
    pve-manager lists `ceph` (an optional package) only when it is installed."""
    for pkg in packages or []:
        if pkg.get("Package") == "ceph" and pkg.get("CurrentState", "Installed") == "Installed":
            version = str(pkg.get("OldVersion") or pkg.get("Version") or "")
            major = as_int(version.split(".", 1)[0]) if version[:1].isdigit() else None
            return CEPH_MAJOR.get(major or 0, version or "unknown")
    return ""


def parse_ceph_conf(text: str | None) -> dict[str, str]:
    """The `[global]` section of ceph.conf; keys with spaces or dashes become
    underscore keys (`public network` == `public_network`)."""
    out: dict[str, str] = {}
    if not text:
        return out
    section = None
    for raw in str(text).splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if section == "global" and "=" in line:
            key, _, value = line.partition("=")
            out[re.sub(r"[\s-]+", "_", key.strip())] = value.strip()
    return out


def _osd_leaves(node: dict[str, Any], host: str | None, out: list[tuple[dict[str, Any], str | None]]) -> None:
    if node.get("type") == "host":
        host = str(node.get("name"))
    if node.get("type") == "osd" or (as_bool(node.get("leaf")) and str(node.get("name", "")).startswith("osd.")):
        out.append((node, node.get("host") or host))
        return
    for child in node.get("children") or []:
        _osd_leaves(child, host, out)


def normalise_osds(tree: dict[str, Any] | None, disks: dict[str, list[dict[str, Any]]]) -> list[OsdState]:
    """OSD tree + per-host disk lists -> OSD facts sorted by id."""
    if not tree:
        return []
    leaves: list[tuple[dict[str, Any], str | None]] = []
    _osd_leaves(tree.get("root") or tree, None, leaves)
    by_id: dict[tuple[str, int], str] = {}
    for node, items in disks.items():
        for disk in items:
            ids = disk.get("osdid-list") or ([disk.get("osdid")] if as_int(disk.get("osdid"), -1) != -1 else [])
            for osd_id in ids or []:
                if as_int(osd_id, -1) != -1:
                    by_id[(node, int(osd_id))] = str(disk.get("devpath"))
    out: list[OsdState] = []
    for leaf, host in leaves:
        osd_id = as_int(leaf.get("id"))
        if osd_id is None or host is None:
            continue
        device = by_id.get((host, osd_id)) or whole_disk(leaf.get("blfsdev"))
        out.append(
            OsdState(
                id=osd_id,
                node=host,
                device=device,
                up=str(leaf.get("status")) == "up",
                in_=as_bool(leaf.get("in")),
                device_class=leaf.get("device_class") or None,
                db_device=whole_disk(leaf.get("dbdev")),
                wal_device=whole_disk(leaf.get("waldev")),
            )
        )
    return sorted(out, key=lambda o: o.id)


def _network_of_mons(mons: list[dict[str, Any]], addresses: dict[str, list[ipaddress.IPv4Interface]]) -> str:
    for mon in mons:
        host = str(mon.get("host") or mon.get("name"))
        addr = str(mon.get("addr") or "").split("/")[0].rsplit(":", 1)[0].strip("[]v2:")
        for iface in addresses.get(host, []):
            if str(iface.ip) == addr:
                return str(iface.network)
    return ""


def normalise_pool(item: dict[str, Any]) -> Pool:
    apps = item.get("application_metadata") or {}
    application = next(iter(sorted(apps)), "rbd") if isinstance(apps, dict) and apps else "rbd"
    return Pool(
        name=str(item.get("pool_name")),
        size=as_int(item.get("size"), 3) or 3,  # pveceph default size 3
        min_size=as_int(item.get("min_size"), 2) or 2,  # pveceph default min_size 2
        pg_num=as_int(item.get("pg_num")),
        pg_autoscale_mode=str(item.get("pg_autoscale_mode") or "warn"),  # pveceph default
        application=application,
        crush_rule=str(item.get("crush_rule_name") or "replicated_rule"),
        add_storage=False,  # creation-only: its effect is the RBD storage, compared as storage
    )


def normalise_ceph(
    conf_text: str | None,
    mons: list[dict[str, Any]] | None,
    mgrs: list[dict[str, Any]] | None,
    mdss: list[dict[str, Any]] | None,
    tree: dict[str, Any] | None,
    pools: list[dict[str, Any]] | None,
    filesystems: list[dict[str, Any]] | None,
    disks: dict[str, list[dict[str, Any]]],
    addresses: dict[str, list[ipaddress.IPv4Interface]] | None = None,
) -> tuple[Ceph | None, str | None, list[MonState], list[OsdState], list[str]]:
    """Returns (ceph model or None if not initialised, fsid, MON facts, OSD facts, notes).

    Ceph counts as initialised when ceph.conf is readable or, failing that, when
    the MON list answers. Without ceph.conf the public network is the subnet of
    the interface holding the first MON's address (`addresses`: node -> its
    interface addresses) and the cluster network is unknown.
    """
    conf = parse_ceph_conf(conf_text)
    notes: list[str] = []
    if not conf and mons is None:
        return None, None, [], [], notes
    public = conf.get("public_network", "").split(",")[0].strip()
    if not conf:
        public = _network_of_mons(mons or [], addresses or {})
        notes.append("ceph: ceph.conf could not be read (GET /nodes/{node}/ceph/cfg/raw); the Ceph networks "
                     "are not compared")
    cluster_net = conf.get("cluster_network", "").split(",")[0].strip()
    mon_states = [
        MonState(
            name=str(m.get("name")),
            node=str(m.get("host") or m.get("name")),
            in_quorum=as_bool(m.get("quorum")) or str(m.get("state")) == "running",
        )
        for m in mons or []
    ]
    osd_states = normalise_osds(tree, disks)
    fs_pools: set[str] = set()
    fs_models: list[CephFs] = []
    pool_items = {str(p.get("pool_name")): p for p in pools or []}
    for fs in filesystems or []:
        name = str(fs.get("name"))
        data_pool = str(fs.get("data_pool") or f"{name}_data")
        meta_pool = str(fs.get("metadata_pool") or f"{name}_metadata")
        fs_pools.update({data_pool, meta_pool})
        pg = as_int((pool_items.get(data_pool) or {}).get("pg_num"), 128) or 128
        fs_models.append(CephFs(name=name, pg_num=pg, add_storage=False))
    pool_models = [
        normalise_pool(p) for name, p in sorted(pool_items.items())
        if name not in INTERNAL_POOLS and name not in fs_pools
    ]
    osds: list[Osd] = []
    for o in osd_states:
        if o.device is None:
            notes.append(f"ceph: osd.{o.id} on {o.node} has no known device; it is reported but not managed")
            continue
        osds.append(
            Osd(node=o.node, device=o.device, db_device=o.db_device if o.db_device != o.device else None,
                wal_device=o.wal_device if o.wal_device != o.device else None,
                device_class=o.device_class if o.device_class in ("hdd", "ssd", "nvme") else None)
        )
    ceph = Ceph(
        public_network=ipaddress.IPv4Network(public, strict=False) if public else ipaddress.IPv4Network("0.0.0.0/0"),
        # no cluster_network line: OSDs replicate over the public network (spec: None)
        cluster_network=ipaddress.IPv4Network(cluster_net, strict=False)
        if cluster_net and cluster_net != public else None,
        mons=sorted({m.node for m in mon_states}),
        mgrs=sorted({str(m.get("host") or m.get("name")) for m in mgrs or []}),
        mdss=sorted({str(m.get("host") or m.get("name")) for m in mdss or []}),
        osds=sorted(osds, key=lambda o: (o.node, o.device)),
        pools=pool_models,
        filesystems=sorted(fs_models, key=lambda f: f.name),
    )
    return ceph, conf.get("fsid"), mon_states, osd_states, notes
