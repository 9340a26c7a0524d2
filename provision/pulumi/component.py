"""`ProxmoxCluster`: a Pulumi component holding one cluster resource of the dynamic provider.

A Pulumi program declares the cluster by its stack file; the connection secrets come
from Pulumi config as Pulumi secrets (encrypted in the state, never in clear text):

    pulumi config set --secret --path 'pve-provision:secrets.PVE_TOKEN' 'root@pam!ci=...'
    pulumi config set --secret --path 'pve-provision:secrets.PBS_PASSWORD' '...'

Each entry is an environment variable the stack references (`token: {env: PVE_TOKEN}`)
or a stable run variable (`PVE_PROVISION_SECRET_<NAME>`, docs/apply.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.dynamic

from provision.pulumi.provider import ClusterProvider

OUTPUTS = ("name", "nodes", "quorum_votes", "quorate", "ceph_health", "pending_changes", "last_plan_id")


class ClusterResource(pulumi.dynamic.Resource, module="pve-provision", name="Cluster"):
    """The dynamic resource itself; use `ProxmoxCluster`."""

    name: pulumi.Output[str]
    nodes: pulumi.Output[list[str]]
    quorum_votes: pulumi.Output[int]
    quorate: pulumi.Output[bool]
    ceph_health: pulumi.Output[str | None]
    pending_changes: pulumi.Output[int]
    last_plan_id: pulumi.Output[str]

    def __init__(self, resource_name: str, props: Mapping[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(ClusterProvider(), resource_name, {**{k: None for k in OUTPUTS}, **props}, opts)


def secrets_from_config() -> pulumi.Output[Any] | None:
    """The map `pve-provision:secrets` of Pulumi config, as a Pulumi secret (None when unset)."""
    value = pulumi.Config("pve-provision").get_secret_object("secrets")
    return value


class ProxmoxCluster(pulumi.ComponentResource):
    """A Proxmox VE cluster made to match a pve-provision stack file."""

    name: pulumi.Output[str]
    nodes: pulumi.Output[list[str]]
    quorum_votes: pulumi.Output[int]
    ceph_health: pulumi.Output[str | None]
    last_plan_id: pulumi.Output[str]

    def __init__(self, resource_name: str, stack: str, *,
                 secrets: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
                 allow_delete: bool = False, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pve-provision:index:ProxmoxCluster", resource_name, None, opts)
        given = secrets if secrets is not None else secrets_from_config()
        props: dict[str, Any] = {"stack": stack, "allow_delete": allow_delete}
        if given is not None:
            props["secrets"] = pulumi.Output.secret(given)
        self.cluster = ClusterResource(f"{resource_name}-cluster", props, pulumi.ResourceOptions(parent=self))
        self.name = self.cluster.name
        self.nodes = self.cluster.nodes
        self.quorum_votes = self.cluster.quorum_votes
        self.ceph_health = self.cluster.ceph_health
        self.last_plan_id = self.cluster.last_plan_id
        self.register_outputs({"name": self.name, "nodes": self.nodes, "quorum_votes": self.quorum_votes,
                               "ceph_health": self.ceph_health, "last_plan_id": self.last_plan_id})
