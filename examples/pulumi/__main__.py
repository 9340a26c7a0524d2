"""A Pulumi program of one Proxmox VE cluster: the stack file is the specification,
pve-provision plans and applies it, Pulumi tracks it.

    pulumi stack init prod
    pulumi config set stack stacks/prod.yaml
    pulumi config set --secret --path 'pve-provision:secrets.PVE_TOKEN' 'root@pam!pulumi=...'
    pulumi config set --secret --path 'pve-provision:secrets.PBS_PASSWORD' '...'
    pulumi preview     # Check = provision validate, Diff = provision plan
    pulumi up          # Update = provision apply of that plan
    pulumi refresh     # Read = discovery: drift shows as changed outputs
"""

import pulumi

from provision.pulumi import ProxmoxCluster

config = pulumi.Config()
cluster = ProxmoxCluster(
    "prod",
    config.get("stack") or "stacks/prod.yaml",
    # secrets: taken from the secret config map `pve-provision:secrets` (see above)
    allow_delete=config.get_bool("allowDelete") or False,
)

pulumi.export("cluster", cluster.name)
pulumi.export("nodes", cluster.nodes)
pulumi.export("quorum_votes", cluster.quorum_votes)
pulumi.export("ceph_health", cluster.ceph_health)
pulumi.export("last_plan_id", cluster.last_plan_id)
