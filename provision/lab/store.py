"""The lab's pmxcfs: one SQLite database shared by the API server, the CRM loop and every CLI.

Real PVE keeps cluster-wide state in pmxcfs (a replicated database mounted at ``/etc/pve``);
the lab keeps the same files in a ``files`` table, in their real text formats, plus tables
for what a real cluster knows only at runtime (hardware inventory, guests, Ceph daemons, HA
manager state, faults, tasks). Many processes write concurrently (uvicorn threads, parallel
Ansible forks running node CLIs), so every read-modify-write runs inside ``BEGIN IMMEDIATE``:
SQLite then serialises writers and no update is lost. WAL lets readers proceed meanwhile.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, content TEXT NOT NULL, version INTEGER NOT NULL, mtime REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dirs (path TEXT PRIMARY KEY, mtime REAL NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY, idx INTEGER NOT NULL, ip TEXT NOT NULL, memory_mb INTEGER NOT NULL,
    cores INTEGER NOT NULL, power INTEGER NOT NULL, boot_time REAL NOT NULL);
CREATE TABLE IF NOT EXISTS nics (
    node TEXT NOT NULL, name TEXT NOT NULL, mac TEXT NOT NULL, link_up INTEGER NOT NULL,
    PRIMARY KEY (node, name));
CREATE TABLE IF NOT EXISTS disks (
    node TEXT NOT NULL, dev TEXT NOT NULL, size INTEGER NOT NULL, kind TEXT NOT NULL,
    model TEXT NOT NULL, serial TEXT NOT NULL, used_by TEXT, PRIMARY KEY (node, dev));
CREATE TABLE IF NOT EXISTS corosync_links (
    node TEXT NOT NULL, link INTEGER NOT NULL, up INTEGER NOT NULL, PRIMARY KEY (node, link));
CREATE TABLE IF NOT EXISTS guests (
    vmid INTEGER PRIMARY KEY, type TEXT NOT NULL, name TEXT NOT NULL, node TEXT NOT NULL,
    status TEXT NOT NULL, memory_mb INTEGER NOT NULL, cores INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ceph_mons (
    name TEXT PRIMARY KEY, host TEXT NOT NULL, addr TEXT NOT NULL, running INTEGER NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ceph_mgrs (
    name TEXT PRIMARY KEY, host TEXT NOT NULL, addr TEXT NOT NULL, running INTEGER NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ceph_mds (
    name TEXT PRIMARY KEY, host TEXT NOT NULL, addr TEXT NOT NULL, running INTEGER NOT NULL,
    standby_replay INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS ceph_osds (
    id INTEGER PRIMARY KEY, host TEXT NOT NULL, dev TEXT NOT NULL, running INTEGER NOT NULL,
    in_ INTEGER NOT NULL, class TEXT NOT NULL, size INTEGER NOT NULL, db_dev TEXT, wal_dev TEXT,
    uuid TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ceph_pools (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, size INTEGER NOT NULL,
    min_size INTEGER NOT NULL, pg_num INTEGER NOT NULL, pg_num_min INTEGER,
    pg_autoscale_mode TEXT NOT NULL, application TEXT NOT NULL, crush_rule TEXT NOT NULL,
    target_size INTEGER, target_size_ratio REAL, type TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ceph_fs (
    name TEXT PRIMARY KEY, metadata_pool TEXT NOT NULL, data_pool TEXT NOT NULL,
    joinable INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS ha_services (
    sid TEXT PRIMARY KEY, node TEXT NOT NULL, state TEXT NOT NULL, uid TEXT NOT NULL,
    since REAL NOT NULL, target TEXT, maintenance_node TEXT);
CREATE TABLE IF NOT EXISTS ha_nodes (
    name TEXT PRIMARY KEY, state TEXT NOT NULL, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS fail_once (
    id INTEGER PRIMARY KEY AUTOINCREMENT, prefix TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    upid TEXT PRIMARY KEY, node TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL,
    user TEXT NOT NULL, pid INTEGER NOT NULL, starttime INTEGER NOT NULL, endtime INTEGER,
    status TEXT NOT NULL, exitstatus TEXT, log TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS api_tokens (
    db TEXT NOT NULL, tokenid TEXT NOT NULL, secret TEXT NOT NULL, role TEXT NOT NULL,
    PRIMARY KEY (db, tokenid));
"""


class Store:
    """A connection to one lab's ``pmxcfs.db``.

    One ``Store`` per thread: sqlite3 connections must not be shared across threads, and the
    API server runs handlers in a thread pool, so it opens a store per request.
    """

    def __init__(self, path: Path, *, create: bool = False) -> None:
        if not create and not path.exists():
            raise FileNotFoundError(path)
        self.path = path
        self.conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA busy_timeout = 30000")
        if create:
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.executescript(SCHEMA)
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self._depth = 0

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); nested use joins the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self._depth = 0
            self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self.conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for multi-query reads (joins an open write transaction)."""
        if self._depth:
            yield self.conn
            return
        self.conn.execute("BEGIN")
        self._depth = 1
        try:
            yield self.conn
        finally:
            self._depth = 0
            self.conn.execute("COMMIT")

    # --- small helpers used everywhere -------------------------------------------------------

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return list(self.conn.execute(sql, args).fetchall())

    def one(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, args).fetchone()
        return row

    def exec(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, args)

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(row["value"]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        if value is None:
            self.exec("DELETE FROM meta WHERE key = ?", (key,))
            return
        self.exec(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def get_file(self, path: str) -> str | None:
        """Content of an ``/etc/pve`` file, or None when it does not exist."""
        row = self.one("SELECT content FROM files WHERE path = ?", (path,))
        return str(row["content"]) if row else None

    def file_version(self, path: str) -> int:
        row = self.one("SELECT version FROM files WHERE path = ?", (path,))
        return int(row["version"]) if row else 0

    def put_file(self, path: str, content: str) -> None:
        """Write an ``/etc/pve`` file, bumping its version like pmxcfs does.

        Its parent directories become real directories, which stay when the file goes
        (pmxcfs keeps a directory until it is removed)."""
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent:
            self.make_dir(parent)
        self.exec(
            "INSERT INTO files(path, content, version, mtime) VALUES(?, ?, 1, ?) "
            "ON CONFLICT(path) DO UPDATE SET content = excluded.content, "
            "version = files.version + 1, mtime = excluded.mtime",
            (path, content, time.time()),
        )

    def delete_file(self, path: str) -> None:
        self.exec("DELETE FROM files WHERE path = ?", (path,))

    def make_dir(self, path: str) -> None:
        """An ``/etc/pve`` directory and its parents (no error when it exists)."""
        parts = path.strip("/").split("/")
        now = time.time()
        for i in range(1, len(parts) + 1):
            self.exec("INSERT OR IGNORE INTO dirs(path, mtime) VALUES(?, ?)", ("/".join(parts[:i]), now))

    def rename_tree(self, old: str, new: str) -> None:
        """Move a directory with everything below it (pmxcfs renames inodes, not copies)."""
        n = len(old)
        for table in ("files", "dirs"):
            self.exec(f"UPDATE {table} SET path = ? || substr(path, ?) WHERE path = ? OR substr(path, 1, ?) = ?",
                      (new, n + 1, old, n + 1, old + "/"))

    def next_counter(self, name: str) -> int:
        """A monotonically increasing number (task pids, ceph epochs)."""
        self.exec(
            "INSERT INTO counters(name, value) VALUES(?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = counters.value + 1",
            (name,),
        )
        row = self.one("SELECT value FROM counters WHERE name = ?", (name,))
        assert row is not None
        return int(row["value"])
