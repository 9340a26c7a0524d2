"""API tokens, kept in the /etc/pve they were created in, as PVE keeps them.

``pveum user token add`` writes the token's secret as a line ``USER@REALM!NAME SECRET``
into ``priv/token.cfg`` and its settings as a ``token:`` line into ``user.cfg``, both in
the answering node's /etc/pve (pve-access-control ``TokenConfig.pm`` generate_token,
``AccessControl.pm`` write_user_config); the API server accepts a token only when that
/etc/pve has it (``AccessControl.pm`` verify_token; pmxcfs ``server.c`` compares the
whole token.cfg line). A standalone node has a /etc/pve of its own; ``pvecm create``
keeps the creating node's database, which thereby becomes the cluster's; a joining node's
database is thrown away and replaced by the cluster's (pve-cluster ``Setup.pm``
finish_join). So a token made on a node before it joined is gone afterwards, and the
cluster's tokens are the ones made on the first node or on any member later.

The lab keeps one shared store for every node's files, so tokens live in their own table,
keyed by the database they belong to: a node's name for a standalone node's own
/etc/pve, ``CLUSTER`` for the cluster's (docs/lab-contract.md, "API tokens").
"""

from __future__ import annotations

from provision.lab.store import Store

CLUSTER = "@cluster"  # not a valid node name, so it cannot collide with one
ROLES = ("admin", "readonly")


def database(node: str, *, member: bool) -> str:
    """Whose /etc/pve ``node`` reads: the cluster's once it is a member, else its own."""
    return CLUSTER if member else node


def add(store: Store, db: str, token_id: str, secret: str, role: str) -> None:
    """``pveum user token add`` on a node whose /etc/pve is ``db`` (a new secret replaces an old one)."""
    if role not in ROLES:
        raise ValueError(f"unknown token role {role!r}")
    store.exec("INSERT INTO api_tokens(db, tokenid, secret, role) VALUES(?,?,?,?) "
               "ON CONFLICT(db, tokenid) DO UPDATE SET secret = excluded.secret, role = excluded.role",
               (db, token_id, secret, role))


def verify(store: Store, db: str, token_id: str, secret: str) -> str | None:
    """The token's role when ``db`` has exactly this token, else None."""
    row = store.one("SELECT secret, role FROM api_tokens WHERE db = ? AND tokenid = ?", (db, token_id))
    if row is None or row["secret"] != secret:
        return None
    return str(row["role"])


def cluster_created(store: Store, node: str) -> None:
    """``pvecm create`` on ``node``: its database becomes the cluster's, tokens included."""
    store.exec("DELETE FROM api_tokens WHERE db = ?", (CLUSTER,))
    store.exec("UPDATE api_tokens SET db = ? WHERE db = ?", (CLUSTER, node))


def node_joined(store: Store, node: str) -> None:
    """A join replaces ``node``'s database with the cluster's: its own tokens are gone."""
    store.exec("DELETE FROM api_tokens WHERE db = ?", (node,))
