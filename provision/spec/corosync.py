"""Corosync (cluster communication) and quorum (votes, QDevice)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from provision.spec.base import INT32_MAX, Int, IPv4Address, IPv4Network, SpecModel, Text
from provision.spec.node import Ssh


class CorosyncLink(SpecModel):
    """A knet link (`linkN`, `ringN_addr` in corosync.conf)."""

    number: Int = Field(ge=0, le=7, description="Link number 0..7.")
    network: IPv4Network = Field(description="Subnet the link runs on, e.g. 10.10.10.0/24.")
    priority: Int | None = Field(
        default=None, ge=0, le=255, description="knet link priority; higher is preferred (passive mode)."
    )
    addresses: dict[Text, IPv4Address] = Field(
        default_factory=dict,
        description="Per-node link address. A node left out uses its interface address inside `network`.",
    )


class Corosync(SpecModel):
    """Cluster communication settings."""

    links: list[CorosyncLink] = Field(min_length=1, max_length=8, description="knet links, 1 to 8.")
    transport: Literal["knet"] = Field(default="knet", description="Transport; Proxmox VE 6+ uses knet.")
    crypto_cipher: Literal["aes256", "aes192", "aes128", "none"] = Field(
        default="aes256", description="knet encryption (Proxmox default aes256 with secauth on)."
    )
    crypto_hash: Literal["sha256", "sha384", "sha512", "sha1", "md5", "none"] = Field(
        default="sha256", description="knet authentication hash."
    )
    token: Int | None = Field(
        default=None, ge=1000, le=INT32_MAX, description="Totem token timeout in ms (corosync computes one if unset)."
    )
    token_coefficient: Int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="Extra token time per node beyond two, in ms (default 650)."
    )

    def link(self, number: int) -> CorosyncLink | None:
        return next((link for link in self.links if link.number == number), None)


class QDevice(SpecModel):
    """An external vote arbiter (corosync-qnetd) for even node counts."""

    host: Text = Field(description="Address of the host running corosync-qnetd.")
    algorithm: Literal["ffsplit", "lms"] = Field(
        default="ffsplit", description="ffsplit (1 vote, 50/50 splits) or lms (last man standing)."
    )
    tie_breaker: Literal["lowest", "highest"] | Int = Field(
        default="lowest", description="Which half wins a tie: lowest/highest node id, or a node id."
    )
    ssh: Ssh = Field(
        default_factory=Ssh,
        description="How Ansible reaches the QNetd host on a real cluster, to install corosync-qnetd and "
        "authorize the node that runs `pvecm qdevice setup` (host defaults to `host`).",
    )


class Quorum(SpecModel):
    """Quorum design."""

    qdevice: QDevice | None = Field(default=None, description="Optional QDevice.")
