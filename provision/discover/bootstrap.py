"""The own API of each node that is not a cluster member yet.

A standalone node's API answers only for itself (pveproxy cannot reach a node outside
its corosync nodelist) and accepts only tokens made on that node (each standalone node
has its own /etc/pve). So discovery reads such a node through its own endpoint, with its
own token, never through the cluster's and never with another node's token. Endpoints are
resolved one node at a time, only for the nodes that need one: once a node has joined,
its bootstrap token is gone and nobody needs it to be set.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from provision.discover.endpoint import Endpoint, from_url, lab_connection_file
from provision.discover.errors import ConfigError
from provision.spec.connection import Connection
from provision.spec.secrets import SecretRef

NodeEndpoint = Callable[[str], Endpoint]
"""Node name -> that node's own endpoint; raises ConfigError with the key to set."""

STACK_KEY = "connection.api.bootstrap"


def for_connection(conn: Connection, *, lab_override: str | None = None, insecure: bool = False) -> NodeEndpoint:
    """The bootstrap endpoints of a stack's `connection` (or of `--lab NAME`, which wins)."""
    lab = lab_override or conn.lab
    if lab is not None:
        return lambda node: from_lab(lab, node, insecure=insecure)
    assert conn.api is not None
    entries = conn.api.bootstrap

    def resolve(node: str) -> Endpoint:
        entry = entries.get(node)
        if entry is None:
            raise ConfigError(
                f"{node} is not a cluster member yet, and the cluster's API cannot read a node outside its "
                f"cluster: set {STACK_KEY}.{node} (url, token, fingerprint or ca_file) to {node}'s own API and "
                "a token made on it (docs/stack-input.md, \"Bootstrap from blank nodes\")")
        endpoint = from_url(str(entry.url), entry.token, ca_file=str(entry.ca_file) if entry.ca_file else None,
                            fingerprint=entry.fingerprint, insecure=insecure, what=f"{STACK_KEY}.{node}.token")
        return endpoint.labelled(f"{node}'s own API ({endpoint.host}:{endpoint.port})")

    return resolve


def from_lab(name: str, node: str, *, insecure: bool = False) -> Endpoint:
    """A blank lab node's own address and the bootstrap token made on it (connection.json)."""
    path = lab_connection_file(name)
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    entry = (info.get("bootstrap") or {}).get(node)
    if not isinstance(entry, dict) or not entry.get("api_url") or not entry.get("token_file"):
        raise ConfigError(f"{node} is not a cluster member yet, and lab {name!r} has no bootstrap token for it "
                          f"(its blank nodes: {', '.join(sorted(info.get('bootstrap') or {})) or 'none'})")
    token = SecretRef(file=entry["token_file"])
    endpoint = from_url(str(entry["api_url"]), token, ca_file=info.get("ca_file"),
                        fingerprint=None if info.get("ca_file") else info.get("fingerprint"), insecure=insecure,
                        what=f"lab {name!r} bootstrap token of {node}")
    return endpoint.labelled(f"{node}'s own API in lab {name!r} ({endpoint.host}:{endpoint.port})")


__all__ = ["STACK_KEY", "NodeEndpoint", "for_connection", "from_lab"]
