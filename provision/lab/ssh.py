"""Root's SSH identity and trust on each lab node, as node-local files.

A freshly installed PVE node has its own root key (`/root/.ssh/id_rsa[.pub]`) and host
key (`/etc/ssh/ssh_host_ed25519_key.pub`) and trusts nobody. `pvecm add --use_ssh` runs
`ssh-copy-id` and `ssh -o BatchMode=yes` to the existing node without a terminal, so it
only works when the joining node's key is already in the target's `authorized_keys` and
the target's host key is pinned in the joiner's `known_hosts`; otherwise it stops with
"unable to copy ssh ID". The lab keeps those files under `nodes/<node>/root/` where the
product (Ansible) reads and writes them, and checks them the way ssh would.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from provision.lab.paths import LabPaths

ID_PUB = Path("root/.ssh/id_rsa.pub")
HOST_KEY = Path("etc/ssh/ssh_host_ed25519_key.pub")
AUTHORIZED = Path("root/.ssh/authorized_keys")
KNOWN_HOSTS = Path("root/.ssh/known_hosts")


def install_keys(paths: LabPaths, node: str) -> None:
    """What the PVE installer leaves: a root key pair and a host key (public halves only)."""
    install_keys_at(paths.node_root(node), node)


def install_keys_at(root: Path, name: str) -> None:
    """A Debian installation's root key pair and host key under ``root`` (public halves only)."""
    for rel, kind, comment in ((ID_PUB, "ssh-rsa", f"root@{name}"), (HOST_KEY, "ssh-ed25519", f"root@{name}")):
        path = root / rel
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{kind} {base64.b64encode(os.urandom(48)).decode()} {comment}\n")


def _key(line: str) -> tuple[str, str] | None:
    parts = line.split()
    return (parts[0], parts[1]) if len(parts) >= 2 else None


def _read(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def trust_error(paths: LabPaths, src: str, dst: str, dst_addr: str) -> str | None:
    """Why root on `src` cannot ssh to `dst` (reached as `dst_addr`) non-interactively, or None."""
    return trust_error_at(paths.node_root(src), paths.node_root(dst), dst_addr)


def trust_error_at(src_root: Path, dst_root: Path, dst_addr: str) -> str | None:
    """`trust_error` between two file trees (a node's, or an external host's such as the qnetd host)."""
    host = _key(next(iter(_read(dst_root / HOST_KEY)), ""))
    pinned = False
    for line in _read(src_root / KNOWN_HOSTS):
        parts = line.split()
        if len(parts) >= 3 and dst_addr in parts[0].split(",") and (parts[1], parts[2]) == host:
            pinned = True
    if not pinned:
        return "Host key verification failed."
    mine = _key(next(iter(_read(src_root / ID_PUB)), ""))
    if mine is None or mine not in {_key(line) for line in _read(dst_root / AUTHORIZED)}:
        return f"root@{dst_addr}: Permission denied (publickey,password)."
    return None
