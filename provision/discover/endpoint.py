"""Where and how to reach a cluster: URL, token, TLS trust.

Resolved from a stack's `connection` (an API endpoint or a lab name) or from
command-line options. TLS is always verified: against a CA file, against the
system store, or against a pinned SHA-256 certificate fingerprint. Only an
explicit `insecure=True` turns verification off (the CLI warns). The token
secret lives only in `Endpoint.secret`, which is excluded from repr.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from provision.discover.errors import ConfigError
from provision.spec.connection import Connection
from provision.spec.secrets import SecretRef, SecretUnavailableError


@dataclass(frozen=True)
class Endpoint:
    """A resolved API endpoint. `secret` never appears in repr or messages."""

    host: str
    port: int
    token_id: str
    secret: str = field(repr=False)
    ca_file: str | None = None
    fingerprint: str | None = None
    insecure: bool = False
    label: str = ""

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def user(self) -> str:
        return self.token_id.split("!", 1)[0]

    @property
    def token_name(self) -> str:
        return self.token_id.split("!", 1)[1]

    def describe(self) -> str:
        return self.label or self.url

    def labelled(self, label: str) -> Endpoint:
        return dataclasses.replace(self, label=label)


def split_token(value: str) -> tuple[str, str]:
    """`USER@REALM!TOKENID=SECRET` -> (`USER@REALM!TOKENID`, `SECRET`); the id is the
    part before the *last* `=` (how pve-http-server parses it)."""
    value = value.strip()
    if value.startswith("PVEAPIToken="):
        value = value[len("PVEAPIToken="):]
    token_id, eq, secret = value.rpartition("=")
    if not eq or "!" not in token_id or "@" not in token_id.split("!", 1)[0] or not secret:
        raise ConfigError("the API token must look like USER@REALM!TOKENID=SECRET")
    return token_id, secret


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme != "https":
        raise ConfigError(f"the API URL must use https, got {parts.scheme}://")
    if not parts.hostname:
        raise ConfigError(f"no host in API URL {url!r}")
    return parts.hostname, parts.port or 8006


def provision_home() -> Path:
    """Same rule as the lab (docs/lab-contract.md): `$PROVISION_HOME` or the default."""
    env = os.environ.get("PROVISION_HOME")
    return Path(env) if env else Path.home() / ".local" / "state" / "pve-provision"


def lab_connection_file(name: str) -> Path:
    return provision_home() / "labs" / name / "connection.json"


def from_lab(name: str, *, insecure: bool = False) -> Endpoint:
    """Read a lab's connection.json (URL, CA, admin token file)."""
    path = lab_connection_file(name)
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"lab {name!r} is not running: {path} does not exist (start it with `provision lab up`)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    host, port = _host_port(str(info.get("api_url", "")))
    token_file = info.get("token_file")
    if not token_file:
        raise ConfigError(f"{path} has no token_file")
    try:
        token_id, secret = split_token(SecretRef(file=Path(token_file)).resolve())
    except SecretUnavailableError as exc:
        raise ConfigError(f"lab {name!r}: {exc}") from None
    return Endpoint(
        host=host, port=port, token_id=token_id, secret=secret,
        ca_file=str(info["ca_file"]) if info.get("ca_file") else None,
        fingerprint=None if info.get("ca_file") else info.get("fingerprint"),
        insecure=insecure, label=f"lab {name!r} ({host}:{port})",
    )


def from_url(
    url: str,
    token: SecretRef,
    *,
    ca_file: str | None = None,
    fingerprint: str | None = None,
    insecure: bool = False,
    what: str = "API token",
) -> Endpoint:
    """An endpoint from a URL and a token reference; `what` names the token in errors."""
    host, port = _host_port(url)
    try:
        token_id, secret = split_token(token.resolve())
    except SecretUnavailableError as exc:
        raise ConfigError(f"{what} ({token.describe()}): {exc}") from None
    return Endpoint(host=host, port=port, token_id=token_id, secret=secret, ca_file=ca_file,
                    fingerprint=fingerprint, insecure=insecure, label=f"{host}:{port}")


def from_connection(conn: Connection, *, lab_override: str | None = None, insecure: bool = False) -> Endpoint:
    """A stack's `connection` (or `--lab NAME`, which wins) -> Endpoint."""
    if lab_override:
        return from_lab(lab_override, insecure=insecure)
    if conn.lab is not None:
        return from_lab(conn.lab, insecure=insecure)
    assert conn.api is not None
    api = conn.api
    return from_url(str(api.url), api.token, ca_file=str(api.ca_file) if api.ca_file else None,
                    fingerprint=api.fingerprint, insecure=insecure)


def pin_digest(fingerprint: str) -> str:
    """A pinned certificate fingerprint (`AA:BB:...` or bare hex) as lower-case hex; a
    value that is not a SHA-256 digest is a configuration error."""
    digest = fingerprint.replace(":", "").lower()
    if len(digest) != 64:
        raise ConfigError("a pinned fingerprint must be a SHA-256 digest (32 bytes, AA:BB:...)")
    return digest
