"""pve-provision for Pulumi (`pip install 'pve-provision[pulumi]'`): the `ProxmoxCluster`
component and its dynamic provider. See examples/pulumi/ and docs/pulumi.md."""

from provision.pulumi.component import ClusterResource, ProxmoxCluster, secrets_from_config
from provision.pulumi.provider import ClusterProvider

__all__ = ["ClusterProvider", "ClusterResource", "ProxmoxCluster", "secrets_from_config"]
