"""Each lab node's /etc/pve as a FUSE filesystem with pmxcfs's rules, over the lab store.

On a real node pmxcfs mounts its database at /etc/pve through FUSE, and its rules are
what tools meet when they write there (pve-cluster ``src/pmxcfs/pmxcfs.c``,
``cfs-plug-memdb.c``, ``memdb.c``, ``dcdb.c``; cited in docs/lab-contract.md):

- every file is owned by root:www-data with mode 0640 (0600 under ``priv/``); ``chmod``
  to any other mode and ``chown`` to any other owner fail with EPERM;
- without quorum every write (create, write, truncate, mkdir, rename, unlink, utimens)
  fails with EACCES and modes read 0440/0555;
- a file may not grow past 1 MiB (EFBIG); there are no symlinks or hard links to make
  (ENOSYS); a rename from another filesystem is EXDEV (the kernel's rule).

Ansible's ``copy`` stumbles over exactly these (it chmods its temporary file and the new
file), so the lab mounts a real FUSE filesystem instead of imitating one: one daemon per
lab serves ``<lab>/pmxcfs/<node>/`` (that node's view: its quorum, its power), and each
node's ``root/etc/pve`` is a symlink into it. The lab's handlers keep using the store
directly, as PVE's daemons use the database, so this module is only the mount.

The store keeps text; a write that is not UTF-8 fails with EINVAL (a known difference,
listed in the contract).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import grp
import os
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision.lab import real, topology
from provision.lab.paths import LabPaths
from provision.lab.store import Store

MAX_FILE_SIZE = 1024 * 1024  # memdb.h MEMDB_MAX_FILE_SIZE
MAX_FS_SIZE = 128 * 1024 * 1024  # memdb.h MEMDB_MAX_FSSIZE
BLOCK = 4096


def www_data_gid() -> int:
    """pmxcfs gives every file to group www-data (pmxcfs.c ``cfs.gid``)."""
    try:
        return grp.getgrnam("www-data").gr_gid
    except KeyError:
        return 33


def is_private(rel: str) -> bool:
    """``priv/...`` and ``nodes/<n>/priv/...`` (cfs-utils.c ``path_is_private``)."""
    parts = rel.strip("/").split("/")
    return parts[0] == "priv" or (len(parts) >= 3 and parts[0] == "nodes" and parts[2] == "priv")


def allowed_mode(rel: str) -> int:
    """The one mode chmod accepts (pmxcfs.c ``cfs_fuse_chmod``)."""
    return 0o600 if is_private(rel) else 0o640


def shown_mode(rel: str, is_dir: bool, quorate: bool) -> int:
    """st_mode as pmxcfs reports it: memdb's 0777/0666 (0555/0444 without quorum), masked
    by pmxcfs.c ``cfs_fuse_getattr`` (0700 under priv, 0755 dirs, 0750 files)."""
    if is_dir:
        mode = 0o777 if quorate else 0o555
        mask = 0o700 if is_private(rel) else 0o755
        return stat.S_IFDIR | (mode & mask)
    mode = 0o666 if quorate else 0o444
    mask = 0o700 if is_private(rel) else 0o750
    return stat.S_IFREG | (mode & mask)


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


@dataclass
class _Handle:
    """An open file: writes collect here and reach the store on flush (see ``write``)."""

    node: str
    rel: str
    data: bytearray | None = None  # loaded on the first write
    dirty: bool = False


@dataclass
class Pmxcfs:
    """The filesystem: ``/<node>/<path>`` is ``<path>`` of the store, as ``node`` sees it."""

    paths: LabPaths
    gid: int = field(default_factory=www_data_gid)
    _local: threading.local = field(default_factory=threading.local)
    _handles: dict[int, _Handle] = field(default_factory=dict)
    _next_fh: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    use_ns = True  # mfusepy: times in nanoseconds

    # --- plumbing ------------------------------------------------------------------------------

    def _store(self) -> Store:
        st: Store | None = getattr(self._local, "store", None)
        if st is None:
            st = Store(self.paths.db)
            self._local.store = st
        return st

    def _split(self, path: str) -> tuple[str, str]:
        """``/pve01/ha/groups.cfg`` -> (``pve01``, ``ha/groups.cfg``); refuses unknown nodes."""
        parts = path.strip("/").split("/", 1)
        node = parts[0]
        rel = parts[1] if len(parts) > 1 else ""
        row = self._store().one("SELECT power FROM nodes WHERE name = ?", (node,))
        if row is None:
            raise _oserror(errno.ENOENT)
        if not row["power"]:
            raise _oserror(errno.ENOTCONN)  # nothing answers on a node that is off
        return node, rel

    def _quorate(self, node: str) -> bool:
        return topology.load(self._store()).quorate(node)

    def _writable(self, node: str) -> None:
        """dcdb.c ``dcdb_send_fuse_message``: no quorum, no write."""
        if not self._quorate(node):
            raise _oserror(errno.EACCES)

    def _kind(self, rel: str) -> str | None:
        """``file``, ``dir`` or None; the root of a node's view is a directory."""
        if rel == "":
            return "dir"
        st = self._store()
        if st.one("SELECT 1 FROM files WHERE path = ?", (rel,)):
            return "file"
        if st.one("SELECT 1 FROM dirs WHERE path = ?", (rel,)):
            return "dir"
        if st.one("SELECT 1 FROM files WHERE path > ? AND path < ? LIMIT 1", (rel + "/", rel + "0")):
            return "dir"  # implied by a file below it
        return None

    def _parent_ok(self, rel: str) -> None:
        """memdb.c: the parent must exist (ENOENT) and be a directory (ENOTDIR)."""
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        kind = self._kind(parent)
        if kind is None:
            raise _oserror(errno.ENOENT)
        if kind != "dir":
            raise _oserror(errno.ENOTDIR)

    def _children(self, rel: str) -> dict[str, bool]:
        """Names directly below ``rel`` -> is_dir."""
        prefix = rel + "/" if rel else ""
        out: dict[str, bool] = {}
        st = self._store()
        for table in ("files", "dirs"):
            for r in st.query(f"SELECT path FROM {table} WHERE path > ? AND path < ?", (prefix, prefix + "\U0010ffff")):
                rest = str(r["path"])[len(prefix):]
                if not rest:
                    continue
                name, _, below = rest.partition("/")
                out[name] = out.get(name, False) or bool(below) or table == "dirs"
        return out

    # --- read side -----------------------------------------------------------------------------

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2, "st_uid": 0, "st_gid": self.gid}
        node, rel = self._split(path)
        if rel == "local":  # pmxcfs's own symlink to this node's directory
            return {"st_mode": stat.S_IFLNK | 0o755, "st_nlink": 1, "st_uid": 0, "st_gid": self.gid,
                    "st_size": len(f"nodes/{node}")}
        handle = self._handles.get(fh) if fh else None
        kind = self._kind(rel)
        if kind is None:
            raise _oserror(errno.ENOENT)
        quorate = self._quorate(node)
        attrs: dict[str, Any] = {"st_uid": 0, "st_gid": self.gid,
                                 "st_mode": shown_mode(rel, kind == "dir", quorate)}
        if kind == "dir":
            attrs["st_nlink"] = 2
            return attrs
        row = self._store().one("SELECT content, mtime FROM files WHERE path = ?", (rel,))
        size = len(handle.data) if handle and handle.data is not None else (
            len(str(row["content"]).encode()) if row else 0)
        mtime_ns = int(float(row["mtime"]) * 1e9) if row else time.time_ns()
        attrs.update(st_nlink=1, st_size=size, st_blocks=(size + BLOCK - 1) // BLOCK,
                     st_mtime=mtime_ns, st_atime=mtime_ns, st_ctime=mtime_ns)
        return attrs

    def readdir(self, path: str, fh: int) -> list[str]:
        if path == "/":
            return [".", "..", *(str(r["name"]) for r in self._store().query("SELECT name FROM nodes ORDER BY name"))]
        _node, rel = self._split(path)
        if self._kind(rel) != "dir":
            raise _oserror(errno.ENOTDIR)
        names = sorted(self._children(rel))
        return [".", "..", *(["local"] if rel == "" else []), *names]

    def readlink(self, path: str) -> str:
        node, rel = self._split(path)
        if rel == "local":
            return f"nodes/{node}"
        raise _oserror(errno.EINVAL)

    def open(self, path: str, flags: int) -> int:
        node, rel = self._split(path)
        if self._kind(rel) != "file":
            raise _oserror(errno.ENOENT)
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC) and not self._quorate(node):
            raise _oserror(errno.EACCES)
        if flags & os.O_TRUNC:  # libfuse 3 hands O_TRUNC to open (atomic_o_trunc)
            st = self._store()
            with st.tx():
                st.put_file(rel, "")
        return self._new_handle(node, rel)

    def _new_handle(self, node: str, rel: str) -> int:
        with self._lock:
            fh = self._next_fh
            self._next_fh += 1
            self._handles[fh] = _Handle(node, rel)
        return fh

    def _content(self, rel: str) -> bytes:
        row = self._store().one("SELECT content FROM files WHERE path = ?", (rel,))
        if row is None:
            raise _oserror(errno.ENOENT)
        return str(row["content"]).encode()

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        handle = self._handles.get(fh)
        if handle and handle.data is not None:
            return bytes(handle.data[offset:offset + size])
        _node, rel = self._split(path)
        return self._content(rel)[offset:offset + size]

    def statfs(self, path: str) -> dict[str, int]:
        used = int(self._store().one("SELECT COALESCE(SUM(LENGTH(content)), 0) AS n FROM files")["n"])  # type: ignore[index]
        total = MAX_FS_SIZE // BLOCK
        free = max(0, total - (used + BLOCK - 1) // BLOCK)
        return {"f_bsize": BLOCK, "f_frsize": BLOCK, "f_blocks": total, "f_bfree": free, "f_bavail": free,
                "f_files": 256 * 1024, "f_ffree": 256 * 1024, "f_namemax": 255}

    # --- write side ----------------------------------------------------------------------------

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        """memdb_create: an empty file (the mode is ignored: every file is 0640)."""
        node, rel = self._split(path)
        self._writable(node)
        self._parent_ok(rel)
        st = self._store()
        with st.tx():
            if st.get_file(rel) is None:
                st.put_file(rel, "")
        return self._new_handle(node, rel)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        """Collected per open file and stored on flush: the store holds text, and a
        multi-byte character may span two writes. Quorum and size are checked here, as
        memdb_write and dcdb check them on every write."""
        handle = self._handles.get(fh)
        if handle is None:
            raise _oserror(errno.EBADF)
        self._writable(handle.node)
        if offset + len(data) > MAX_FILE_SIZE:
            raise _oserror(errno.EFBIG)
        if handle.data is None:
            handle.data = bytearray(self._content(handle.rel))
        if offset > len(handle.data):
            handle.data.extend(b"\0" * (offset - len(handle.data)))
        handle.data[offset:offset + len(data)] = data
        handle.dirty = True
        return len(data)

    def _commit(self, handle: _Handle) -> None:
        if not handle.dirty or handle.data is None:
            return
        self._writable(handle.node)
        try:
            text = bytes(handle.data).decode("utf-8")
        except UnicodeDecodeError:
            raise _oserror(errno.EINVAL) from None
        st = self._store()
        with st.tx():
            st.put_file(handle.rel, text)
        handle.dirty = False

    def flush(self, path: str, fh: int) -> int:
        handle = self._handles.get(fh)
        if handle is not None:
            self._commit(handle)
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        return self.flush(path, fh)

    def release(self, path: str, fh: int) -> int:
        with self._lock:
            handle = self._handles.pop(fh, None)
        if handle is not None:
            self._commit(handle)
        return 0

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        handle = self._handles.get(fh) if fh else None
        node, rel = (handle.node, handle.rel) if handle else self._split(path)
        self._writable(node)
        if length > MAX_FILE_SIZE:
            raise _oserror(errno.EFBIG)
        if handle is not None:
            data = handle.data if handle.data is not None else bytearray(self._content(rel))
            handle.data = (data + bytearray(max(0, length - len(data))))[:length]
            handle.dirty = True
            return 0
        content = self._content(rel)
        try:
            text = (content + b"\0" * max(0, length - len(content)))[:length].decode("utf-8")
        except UnicodeDecodeError:
            raise _oserror(errno.EINVAL) from None
        st = self._store()
        with st.tx():
            st.put_file(rel, text)
        return 0

    def unlink(self, path: str) -> int:
        node, rel = self._split(path)
        self._writable(node)
        st = self._store()
        with st.tx():
            if st.get_file(rel) is None:
                raise _oserror(errno.EISDIR if self._kind(rel) == "dir" else errno.ENOENT)
            st.delete_file(rel)
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        node, rel = self._split(path)
        self._writable(node)
        self._parent_ok(rel)
        st = self._store()
        with st.tx():
            if self._kind(rel) is not None:
                raise _oserror(errno.EEXIST)
            st.make_dir(rel)
        return 0

    def rmdir(self, path: str) -> int:
        node, rel = self._split(path)
        self._writable(node)
        st = self._store()
        with st.tx():
            kind = self._kind(rel)
            if kind != "dir" or rel == "":
                raise _oserror(errno.ENOTDIR if kind == "file" else errno.ENOENT if kind is None else errno.EACCES)
            if self._children(rel):
                raise _oserror(errno.ENOTEMPTY)
            st.exec("DELETE FROM dirs WHERE path = ?", (rel,))
        return 0

    def rename(self, old: str, new: str) -> int:
        """memdb_rename: files and directories move inside one node's view; another
        node's directory is another mount on a real cluster, hence EXDEV."""
        node, rel_from = self._split(old)
        node_to, rel_to = self._split(new)
        if node != node_to:
            raise _oserror(errno.EXDEV)
        self._writable(node)
        st = self._store()
        with st.tx():
            kind = self._kind(rel_from)
            if kind is None or rel_from == "":
                raise _oserror(errno.ENOENT if kind is None else errno.EACCES)
            self._parent_ok(rel_to)
            if kind == "file":
                content = st.get_file(rel_from) or ""
                if self._kind(rel_to) == "dir":
                    raise _oserror(errno.EISDIR)
                st.put_file(rel_to, content)
                st.delete_file(rel_from)
                return 0
            if self._kind(rel_to) == "file":
                raise _oserror(errno.ENOTDIR)
            if self._children(rel_to):
                raise _oserror(errno.ENOTEMPTY)
            st.rename_tree(rel_from, rel_to)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        """Only the one supported mode is accepted (pmxcfs.c ``cfs_fuse_chmod``)."""
        _node, rel = self._split(path)
        if mode & 0o7777 != allowed_mode(rel):
            raise _oserror(errno.EPERM)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        """root:www-data or "no change" (-1) only (pmxcfs.c ``cfs_fuse_chown``)."""
        self._split(path)
        if uid not in (0, -1) or gid not in (self.gid, -1):
            raise _oserror(errno.EPERM)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        node, rel = self._split(path)
        self._writable(node)
        mtime = times[1] / 1e9 if times else time.time()
        st = self._store()
        with st.tx():
            if self._kind(rel) is None:
                raise _oserror(errno.ENOENT)
            st.exec("UPDATE files SET mtime = ? WHERE path = ?", (mtime, rel))
        return 0


# --- the daemon ---------------------------------------------------------------------------------


def serve(paths: LabPaths) -> None:
    """Mount ``paths.pmxcfs`` and serve it until unmounted or SIGTERM."""
    import mfusepy

    fs = Pmxcfs(paths)

    class Ops(mfusepy.Operations):  # type: ignore[misc]
        """mfusepy registers only the callbacks a subclass defines: these are pmxcfs's
        (pmxcfs.c ``fuse_ops``); symlink and link stay unset, hence ENOSYS."""

        use_ns = True
        getattr = staticmethod(fs.getattr)
        readdir = staticmethod(fs.readdir)
        readlink = staticmethod(fs.readlink)
        open = staticmethod(fs.open)
        read = staticmethod(fs.read)
        statfs = staticmethod(fs.statfs)
        create = staticmethod(fs.create)
        write = staticmethod(fs.write)
        flush = staticmethod(fs.flush)
        fsync = staticmethod(fs.fsync)
        release = staticmethod(fs.release)
        truncate = staticmethod(fs.truncate)
        unlink = staticmethod(fs.unlink)
        mkdir = staticmethod(fs.mkdir)
        rmdir = staticmethod(fs.rmdir)
        rename = staticmethod(fs.rename)
        chmod = staticmethod(fs.chmod)
        chown = staticmethod(fs.chown)
        utimens = staticmethod(fs.utimens)

    paths.pmxcfs.mkdir(parents=True, exist_ok=True)
    # pmxcfs mounts with default_permissions,allow_other; the lab adds zero cache timeouts
    # and direct_io so a write through one node's view is seen at once through another's.
    # libfuse returns non-zero after a signal (RuntimeError); the mount is gone either way
    with contextlib.suppress(RuntimeError):
        mfusepy.FUSE(Ops(), str(paths.pmxcfs), foreground=True, fsname="pmxcfs-lab", subtype="pmxcfs",
                     default_permissions=True, allow_other=True, direct_io=True, entry_timeout=0,
                     attr_timeout=0, negative_timeout=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m provision.lab.pmxcfs")
    ap.add_argument("--lab-dir", required=True, type=Path)
    args = ap.parse_args(argv)
    serve(LabPaths(args.lab_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def sync(store: Store, paths: LabPaths) -> list[str]:
    """What pmxcfs's dcdb.c does when corosync.conf changes, for a `--real` lab: write it
    to each member's /etc/corosync and `corosync-cfgtool -R` (and, with real Ceph, what
    PVE's Ceph services do with the daemons the lab's records name). (Node writes need no import:
    the FUSE mount puts them in the store at once.) Returns one line per change, for logs."""
    if real.enabled(paths.root):
        from provision.lab.real import parts

        return parts.sync_store(store, paths.root)
    return []
