"""Where a lab's files live (docs/lab-contract.md); one place so every front end agrees."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ADMIN_TOKEN_ID = "root@pam!provision"
READONLY_TOKEN_ID = "auditor@pve!readonly"
NODE_CLIS = ("pvecm", "pveceph", "ha-manager", "pvesm", "pvesh", "ifreload", "qm", "ceph", "systemctl",
             "systemd-run", "corosync-cfgtool", "apt-get",
             "dpkg-query")


def provision_home() -> Path:
    """``$PROVISION_HOME`` or the XDG-ish default, so tests can isolate themselves."""
    env = os.environ.get("PROVISION_HOME")
    if env:
        return Path(env)
    return Path.home() / ".local" / "state" / "pve-provision"


@dataclass(frozen=True)
class LabPaths:
    """All contract paths of one lab directory."""

    root: Path

    @classmethod
    def for_name(cls, name: str) -> LabPaths:
        return cls(provision_home() / "labs" / name)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def db(self) -> Path:
        return self.root / "pmxcfs.db"

    @property
    def connection(self) -> Path:
        return self.root / "connection.json"

    @property
    def tokens(self) -> Path:
        return self.root / "tokens"

    @property
    def admin_token(self) -> Path:
        return self.tokens / "admin.token"

    @property
    def readonly_token(self) -> Path:
        return self.tokens / "readonly.token"

    def bootstrap_token(self, node: str) -> Path:
        """The token made on ``node`` alone while it is standalone (not the first node's:
        that one is ``admin_token``)."""
        return self.tokens / f"node-{node}.token"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def ca(self) -> Path:
        return self.tls / "ca.pem"

    @property
    def cert(self) -> Path:
        return self.tls / "server.pem"

    @property
    def key(self) -> Path:
        return self.tls / "server.key"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.yml"

    @property
    def pid(self) -> Path:
        return self.root / "server.pid"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def ready(self) -> Path:
        return self.root / "server.ready"

    @property
    def pmxcfs(self) -> Path:
        """The FUSE mount serving every node's /etc/pve (``<mount>/<node>/...``)."""
        return self.root / "pmxcfs"

    @property
    def pmxcfs_pid(self) -> Path:
        return self.root / "pmxcfs.pid"

    @property
    def pmxcfs_log(self) -> Path:
        return self.root / "pmxcfs.log"

    def etc_pve(self, node: str) -> Path:
        """A node's /etc/pve: a symlink to its view in the pmxcfs mount."""
        return self.node_root(node) / "etc" / "pve"

    def node_root(self, node: str) -> Path:
        return self.root / "nodes" / node / "root"

    def host_root(self, address: str) -> Path:
        """An external (non-PVE) host's file tree, such as the QNetd host's."""
        return self.root / "hosts" / address / "root"

    def interfaces(self, node: str) -> Path:
        return self.node_root(node) / "etc" / "network" / "interfaces"

    def ha_manager_default(self, node: str) -> Path:
        """``/etc/default/pve-ha-manager``: watchdog-mux's environment (``WATCHDOG_MODULE``)."""
        return self.node_root(node) / "etc" / "default" / "pve-ha-manager"

    def transient_units(self, node: str) -> Path:
        """``systemd-run`` timers of a node (one JSON file per unit: pid, command, due time)."""
        return self.node_root(node) / "run" / "systemd" / "transient"

    def cut_off(self, node: str) -> Path:
        """Present while the node's applied network lacks its management address: the
        controller cannot reach it (node CLIs fail as SSH would) until it reverts."""
        return self.node_root(node) / "run" / "pve-lab-cut-off"
