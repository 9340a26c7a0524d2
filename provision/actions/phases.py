"""Plan phases, in execution order.

Creations and updates run forward; destructions run afterwards in reverse dependency
order. HA rules come after HA resources because PVE 9 refuses a rule that names a
resource that is not HA-managed yet.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    NETWORK = "network"
    CLUSTER = "cluster"
    COROSYNC = "corosync"
    QDEVICE = "qdevice"
    CEPH = "ceph"
    STORAGE = "storage"
    HA_GROUPS = "ha_groups"
    HA_RESOURCES = "ha_resources"
    HA_RULES = "ha_rules"
    DESTROY_HA_RULES = "destroy_ha_rules"
    DESTROY_HA_RESOURCES = "destroy_ha_resources"
    DESTROY_HA_GROUPS = "destroy_ha_groups"
    DESTROY_STORAGE = "destroy_storage"
    DESTROY_CEPH = "destroy_ceph"
    DESTROY_QDEVICE = "destroy_qdevice"
    DESTROY_COROSYNC = "destroy_corosync"
    DESTROY_CLUSTER = "destroy_cluster"

    @property
    def rank(self) -> int:
        return list(Phase).index(self)


PHASES: tuple[str, ...] = tuple(p.value for p in Phase)

# Phases that run before a cluster exists: there, "not clustered yet" is not an error.
PRE_CLUSTER_PHASES = frozenset({Phase.NETWORK, Phase.CLUSTER})
