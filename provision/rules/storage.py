"""Storage definitions: what each type can hold, shared storage for HA, backups
(pve-storage plugins' `content` lists, ha-manager.adoc "Requirements")."""

from __future__ import annotations

from collections.abc import Iterator

from provision.rules.registry import Hit, rule
from provision.spec import Cluster, RbdStorage
from provision.spec.storage import Content

#: Content types each storage type accepts, and what it holds when `content` is
#: left out (pve-storage, `plugindata()` of each plugin).
SUPPORTED: dict[str, frozenset[str]] = {
    "rbd": frozenset({"images", "rootdir"}),
    "cephfs": frozenset({"vztmpl", "iso", "backup", "snippets", "import"}),
    "nfs": frozenset({"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"}),
    "iscsi": frozenset({"images"}),
    "pbs": frozenset({"backup"}),
    "dir": frozenset({"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"}),
    "lvmthin": frozenset({"images", "rootdir"}),
    "zfspool": frozenset({"images", "rootdir"}),
}
DEFAULT_CONTENT: dict[str, frozenset[str]] = {
    "rbd": frozenset({"images"}),
    "cephfs": frozenset({"backup"}),
    "nfs": frozenset({"images"}),
    "iscsi": frozenset({"images"}),
    "pbs": frozenset({"backup"}),
    "dir": frozenset({"images", "rootdir"}),
    "lvmthin": frozenset({"images", "rootdir"}),
    "zfspool": frozenset({"images", "rootdir"}),
}
GUEST_CONTENT = frozenset({"images", "rootdir"})


def _type(st: object) -> str:
    return str(getattr(st, "type", ""))


def effective_content(st: object) -> frozenset[str]:
    content: list[Content] = getattr(st, "content", [])
    return frozenset(content) if content else DEFAULT_CONTENT.get(_type(st), frozenset())


def is_shared(st: object) -> bool:
    return bool(getattr(st, "shared", False))


def _active_ha(c: Cluster) -> bool:
    return any(r.state != "ignored" for r in c.ha.resources)


@rule("PVE-S001", "warning", "No shared storage for HA guests")
def no_shared_guest_storage(c: Cluster) -> Iterator[Hit]:
    """ha-manager.adoc lists shared storage for VMs and containers as a requirement:
    when a node fails, HA starts its guests elsewhere, which needs their disks to be
    reachable from the other nodes (RBD, NFS, iSCSI, a shared directory; CephFS
    holds ISOs, templates and backups, not disks). With local disks only, recovery
    fails, unless ZFS replication is set up, and then the guest comes back with the
    data of its last replication run.

    Fix: add a shared storage with content `images`/`rootdir` (e.g. an RBD storage on
    a Ceph pool) and keep HA guests' disks on it.
    """
    if not _active_ha(c):
        return
    for st in c.storage:
        if not st.disable and is_shared(st) and _type(st) != "pbs" and effective_content(st) & GUEST_CONTENT:
            return
    yield Hit(("ha", "resources"),
              f"{len(c.ha.resources)} HA resource(s) but no shared storage for guest disks: "
              "a failed node's guests cannot start elsewhere",
              "add shared storage (rbd, nfs, iscsi) with content images/rootdir")


@rule("PVE-S002", "error", "Content type not supported by the storage type")
def unsupported_content(c: Cluster) -> Iterator[Hit]:
    """Each storage plugin accepts a fixed set of content types; Proxmox rejects the
    storage definition otherwise (`pvesm add` fails, and apply with it). A common
    mistake is `images` on CephFS (disks belong on RBD) or `iso` on LVM-thin.

    Fix: keep only the content types the storage type supports, or pick a storage
    type that holds what you need.
    """
    for i, st in enumerate(c.storage):
        allowed = SUPPORTED.get(_type(st))
        if allowed is None:
            continue
        bad = sorted(set(st.content) - allowed)
        if bad:
            yield Hit(("storage", i, "content"),
                      f"{_type(st)} storage {st.name} cannot hold {', '.join(bad)}",
                      f"{_type(st)} supports: {', '.join(sorted(allowed))}")


@rule("PVE-S003", "info", "No storage for backups")
def no_backup_storage(c: Cluster) -> Iterator[Hit]:
    """HA protects against node failure, not against deleted or corrupted guests.
    Without a storage holding `backup` content, no vzdump job can run.

    Fix: add a Proxmox Backup Server storage (or an NFS export with content
    `backup`).
    """
    if any(not st.disable and "backup" in effective_content(st) for st in c.storage):
        return
    yield Hit(("storage",), "no storage holds backups", "add a PBS storage or content: [backup] on a shared one")


@rule("PVE-S004", "warning", "Backups only on node-local storage")
def local_backups_only(c: Cluster) -> Iterator[Hit]:
    """Backups on the node's own disks die with that node, which is exactly when they
    are needed; on a hyper-converged pool they share its fate too.

    Fix: send backups to a Proxmox Backup Server or another host (NFS), off the
    cluster.
    """
    backups = [(i, st) for i, st in enumerate(c.storage) if not st.disable and "backup" in effective_content(st)]
    if backups and not any(is_shared(st) for _, st in backups):
        i, st = backups[0]
        yield Hit(("storage", i, "content"), f"backups go only to node-local storage ({st.name})",
                  "add a PBS or NFS storage for backups")


@rule("PVE-S005", "warning", "RBD storage on a pool not meant for RBD")
def rbd_pool_application(c: Cluster) -> Iterator[Hit]:
    """A pool's application tag says who may use it; an RBD storage on a pool
    tagged `cephfs` or `rgw` mixes guest disks into a file system's or gateway's
    pool, confuses capacity planning and triggers a POOL_APP_NOT_ENABLED-style
    health warning.

    Fix: point the storage at a pool with `application: rbd`.
    """
    if c.ceph is None:
        return
    pools = {p.name: p for p in c.ceph.pools}
    for i, st in enumerate(c.storage):
        if isinstance(st, RbdStorage) and st.monhost is None and st.pool in pools:
            app = pools[st.pool].application
            if app != "rbd":
                yield Hit(("storage", i, "pool"), f"RBD storage {st.name} uses pool {st.pool}, whose "
                          f"application is {app}", "use a pool with application: rbd")
