"""Cluster nodes: identity, votes, how to reach them, their network and capacity."""

from __future__ import annotations

from pydantic import Field

from provision.spec.base import INT32_MAX, NODE_NAME, FilePath, Int, IPv4Address, SpecModel, Text
from provision.spec.hapolicy import WATCHDOG_MODULE
from provision.spec.network import Interface


class Ssh(SpecModel):
    """How Ansible reaches the node on a real cluster (the lab brings its own inventory)."""

    host: Text | None = Field(default=None, description="Host name or IP; defaults to the node's address.")
    user: Text = Field(default="root", description="SSH user (Proxmox node commands need root).")
    port: Int = Field(default=22, ge=1, le=65535, description="SSH port.")
    key_file: FilePath | None = Field(default=None, description="Private key file; the SSH agent is used if unset.")


class Capacity(SpecModel):
    """Hardware the failure analysis plans with (not managed, only used for what-if)."""

    memory_mib: Int = Field(ge=0, le=INT32_MAX, description="Memory available to guests, in MiB.")
    cores: Int = Field(ge=0, le=INT32_MAX, description="CPU cores available to guests.")


class Node(SpecModel):
    """One Proxmox VE node."""

    name: Text = Field(pattern=NODE_NAME, description="Node (host) name, as in /etc/hostname.")
    nodeid: Int = Field(
        ge=1, le=2**32 - 1, description="Corosync node id (32-bit, 0 is reserved), unique in the cluster."
    )
    votes: Int = Field(default=1, ge=0, le=INT32_MAX, description="Corosync quorum votes (Proxmox default 1).")
    address: IPv4Address = Field(description="Management address (API, SSH, migration).")
    ssh: Ssh = Field(default_factory=Ssh, description="SSH access for Ansible on a real cluster.")
    interfaces: list[Interface] = Field(
        default_factory=list, description="Network interfaces managed in /etc/network/interfaces."
    )
    capacity: Capacity | None = Field(default=None, description="Memory and cores, for failure analysis.")
    ha_watchdog_module: Text | None = Field(
        default=None, pattern=WATCHDOG_MODULE,
        description="Hardware watchdog the HA stack fences with (`WATCHDOG_MODULE` in /etc/default/pve-ha-manager, "
        "e.g. ipmi_watchdog; softdog is PVE's default). Loaded at the next boot. The API cannot show it: plan "
        "always carries a check that apply makes on the node. Unset: left as the node has it.",
    )

    def interface(self, name: str) -> Interface | None:
        """The interface called `name`, if declared."""
        return next((i for i in self.interfaces if i.name == name), None)

    @property
    def ssh_host(self) -> str:
        return self.ssh.host or str(self.address)
