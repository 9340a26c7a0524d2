"""External hosts next to the cluster: the QNetd host a QDevice votes through.

A QDevice needs a host outside the cluster running `corosync-qnetd` (pve-docs
`pvecm.adoc`, "Corosync External Vote Support"). It is a plain Debian machine, not a PVE
node: it has no PVE API, only SSH and apt. The lab keeps one file tree per such host
(`hosts/<address>/root/`, with root's key pair and a host key as the installer leaves
them) and its installed packages, so `pvecm qdevice setup` can check SSH trust to it and
whether `corosync-qnetd` is there, as the real command does. A freshly installed host has
neither trust nor the package.
"""

from __future__ import annotations

import ipaddress

from provision.lab import ssh
from provision.lab.paths import LabPaths
from provision.lab.store import Store

QNETD_HOSTS = "qnetd_hosts"


def add_qnetd(store: Store, paths: LabPaths, address: str) -> None:
    """A freshly installed Debian host at ``address`` (an IP: pvecm only takes one)."""
    ipaddress.ip_address(address)
    with store.tx():
        known = list(store.get_meta(QNETD_HOSTS, []) or [])
        if address not in known:
            store.set_meta(QNETD_HOSTS, sorted([*known, address]))
    ssh.install_keys_at(paths.host_root(address), address)


def qnetd_hosts(store: Store) -> list[str]:
    return list(store.get_meta(QNETD_HOSTS, []) or [])


def is_host(store: Store, address: str) -> bool:
    return address in qnetd_hosts(store)


def trust(paths: LabPaths, node: str, address: str) -> None:
    """What an admin did by hand: root's key of ``node`` authorized on the host at
    ``address`` and that host's key pinned in ``node``'s known_hosts."""
    src, dst = paths.node_root(node), paths.host_root(address)
    key = (src / ssh.ID_PUB).read_text().strip()
    host_key = " ".join((dst / ssh.HOST_KEY).read_text().split()[:2])
    for path, line in ((dst / ssh.AUTHORIZED, key), (src / ssh.KNOWN_HOSTS, f"{address} {host_key}")):
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = path.read_text().splitlines() if path.exists() else []
        if line not in lines:
            path.write_text("".join(f"{x}\n" for x in [*lines, line]))
