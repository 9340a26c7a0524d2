"""Each lab node's /etc/pve as files, the way pmxcfs mounts its database.

On a real node, pmxcfs mounts the cluster database at /etc/pve (FUSE): a file written
there is in the database and visible on every node at once, and without quorum the
mount is read-only. Admins and Ansible rely on that, for instance for the documented
corosync.conf protocol (edit a copy, bump config_version, move it into place).

The lab keeps /etc/pve in SQLite (`files` table) and mirrors it into every powered
node's `nodes/<node>/root/etc/pve/`, synchronised at the edges of every API request and
node CLI run:

- import: a file a node changed (or removed) in its mirror goes into the database when
  that node's partition is quorate; otherwise the change is reverted, as the write to a
  read-only mount would have failed;
- export: database files that changed since they were last written to a mirror are
  written again (and removed ones deleted).

A `mirror` table remembers, per node and path, the database version last exported and
the file's (mtime, size) right after writing it, so finding nothing to do costs one
query and one stat per file.
"""

from __future__ import annotations

import os
from pathlib import Path

from provision.lab import real, topology
from provision.lab.paths import LabPaths
from provision.lab.store import Store

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS mirror(node TEXT NOT NULL, path TEXT NOT NULL, version INTEGER NOT NULL, "
    "mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, PRIMARY KEY(node, path))"
)
# Ansible's copy module writes a temporary file next to the target and renames it:
# never import one of those half-written files.
_TEMP_PREFIXES = (".ansible_tmp", ".#")

Stat = tuple[int, int]
Manifest = dict[str, tuple[int, Stat]]  # path -> (db version, (mtime_ns, size)) for one node


def mirror_root(paths: LabPaths, node: str) -> Path:
    """Where `node`'s /etc/pve lives on the lab's disk."""
    return paths.node_root(node) / "etc" / "pve"


def _scan(root: Path) -> dict[str, Stat]:
    found: dict[str, Stat] = {}
    if not root.is_dir():
        return found
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(_TEMP_PREFIXES):
                continue
            full = Path(dirpath) / name
            try:
                st = full.stat()
            except OSError:
                continue
            found[full.relative_to(root).as_posix()] = (st.st_mtime_ns, st.st_size)
    return found


def _manifests(store: Store) -> dict[str, Manifest]:
    out: dict[str, Manifest] = {}
    for r in store.query("SELECT node, path, version, mtime_ns, size FROM mirror"):
        out.setdefault(str(r["node"]), {})[str(r["path"])] = (
            int(r["version"]),
            (int(r["mtime_ns"]), int(r["size"])),
        )
    return out


def _powered(store: Store) -> list[str]:
    return [str(r["name"]) for r in store.query("SELECT name FROM nodes WHERE power = 1 ORDER BY name")]


def _db_versions(store: Store) -> dict[str, int]:
    return {str(r["path"]): int(r["version"]) for r in store.query("SELECT path, version FROM files")}


def _pending(store: Store, paths: LabPaths) -> bool:
    """Cheap check, outside any write transaction: is there anything to import or export?"""
    manifests = _manifests(store)
    versions = _db_versions(store)
    for node in _powered(store):
        manifest = manifests.get(node, {})
        on_disk = _scan(mirror_root(paths, node))
        if {p: s for p, (_v, s) in manifest.items()} != on_disk:
            return True
        if {p: v for p, (v, _s) in manifest.items()} != versions:
            return True
    return False


def _write(root: Path, rel: str, content: str) -> Stat:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".#{target.name}.lab")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, target)
    st = target.stat()
    return (st.st_mtime_ns, st.st_size)


def _record(store: Store, node: str, rel: str, version: int, stat: Stat) -> None:
    store.exec(
        "INSERT INTO mirror(node, path, version, mtime_ns, size) VALUES(?,?,?,?,?) "
        "ON CONFLICT(node, path) DO UPDATE SET version = excluded.version, mtime_ns = excluded.mtime_ns, "
        "size = excluded.size",
        (node, rel, version, stat[0], stat[1]),
    )


def sync(store: Store, paths: LabPaths) -> list[str]:
    """Import node-side changes (quorum permitting), then export the database.

    In a real lab the nodes' corosync daemons then get the current corosync.conf (as
    pmxcfs's ``dcdb.c`` writes /etc/corosync/corosync.conf and runs ``corosync-cfgtool -R``).
    Returns one line per import or refused write, for logs and tests."""
    log = _sync_mirrors(store, paths)
    if real.enabled(paths.root):
        from provision.lab.real import corosync

        log += corosync.sync_store(store, paths.root)
    return log


def _sync_mirrors(store: Store, paths: LabPaths) -> list[str]:
    store.exec(_SCHEMA)
    if not _pending(store, paths):
        return []
    log: list[str] = []
    with store.tx():
        topo = topology.load(store)
        manifests = _manifests(store)
        nodes = _powered(store)
        # 1. import what nodes wrote or removed
        for node in nodes:
            root = mirror_root(paths, node)
            manifest = manifests.get(node, {})
            on_disk = _scan(root)
            changed = [p for p, s in on_disk.items() if manifest.get(p, (0, None))[1] != s]
            removed = [p for p in manifest if p not in on_disk]
            if not changed and not removed:
                continue
            if not topo.quorate(node):
                log.append(f"{node}: /etc/pve is read-only without quorum; reverted {', '.join(changed + removed)}")
                for rel in changed + removed:
                    store.exec("DELETE FROM mirror WHERE node = ? AND path = ?", (node, rel))
                    if rel not in manifest:
                        (root / rel).unlink(missing_ok=True)
                continue
            for rel in sorted(changed):
                store.put_file(rel, (root / rel).read_text(encoding="utf-8", errors="replace"))
                _record(store, node, rel, store.file_version(rel), on_disk[rel])
                log.append(f"{node}: wrote /etc/pve/{rel}")
            for rel in sorted(removed):
                store.delete_file(rel)
                store.exec("DELETE FROM mirror WHERE node = ? AND path = ?", (node, rel))
                log.append(f"{node}: removed /etc/pve/{rel}")
        # 2. export the database to every powered node's mirror
        manifests = _manifests(store)
        versions = _db_versions(store)
        for node in nodes:
            root = mirror_root(paths, node)
            manifest = manifests.get(node, {})
            on_disk = _scan(root)
            for rel, version in versions.items():
                entry = manifest.get(rel)
                if entry is None or entry[0] != version or on_disk.get(rel) != entry[1]:
                    content = store.get_file(rel) or ""
                    _record(store, node, rel, version, _write(root, rel, content))
            for rel in manifest:
                if rel not in versions:
                    (root / rel).unlink(missing_ok=True)
                    store.exec("DELETE FROM mirror WHERE node = ? AND path = ?", (node, rel))
    return log
