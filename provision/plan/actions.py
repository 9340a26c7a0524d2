"""The plan's unit of work: an `Action`, what apply executes.

An action is plain data (see docs/plan-format.md): a stable `id`, the `phase` it
runs in, a closed `kind`, the `node` to run on (None: any quorate member), the
`address` it changes, JSON `params` (secrets only as references), whether it
must run alone (`serial`), whether it destroys data (`destructive`) and the ids
it waits for (`depends_on`). Apply never has to look at the spec or the diff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Phases in execution order. Creations and updates run forward; destructions run
# afterwards in reverse dependency order. HA rules come after HA resources
# because PVE 9 refuses a rule that names a resource that is not HA-managed yet.
PHASES: tuple[str, ...] = (
    "network",
    "cluster",
    "corosync",
    "qdevice",
    "ceph",
    "storage",
    "ha_groups",
    "ha_resources",
    "ha_rules",
    "destroy_ha_rules",
    "destroy_ha_resources",
    "destroy_ha_groups",
    "destroy_storage",
    "destroy_ceph",
    "destroy_qdevice",
    "destroy_corosync",
    "destroy_cluster",
)

KINDS: frozenset[str] = frozenset({
    "network_apply",
    "cluster_create", "cluster_join", "node_remove",
    "corosync_link_set", "corosync_link_remove", "corosync_totem_set",
    "qdevice_setup", "qdevice_remove",
    "ceph_init", "ceph_mon_create", "ceph_mon_destroy", "ceph_mgr_create", "ceph_mgr_destroy",
    "ceph_mds_create", "ceph_mds_destroy", "ceph_osd_create", "ceph_osd_destroy", "ceph_osd_set",
    "ceph_pool_create", "ceph_pool_set", "ceph_pool_destroy", "ceph_fs_create", "ceph_fs_destroy",
    "storage_add", "storage_set", "storage_remove",
    "ha_group_add", "ha_group_set", "ha_group_remove",
    "ha_rule_add", "ha_rule_set", "ha_rule_remove",
    "ha_resource_add", "ha_resource_set", "ha_resource_remove",
})


@dataclass
class Action:
    """One step of a plan."""

    id: str
    phase: str
    kind: str
    address: str
    node: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    serial: bool = False
    destructive: bool = False
    depends_on: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    """Addresses of the changes this action carries out."""
    reason: str = ""
    step: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown action kind {self.kind!r}")
        if self.phase not in PHASES:
            raise ValueError(f"unknown phase {self.phase!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "step": self.step,
            "phase": self.phase,
            "kind": self.kind,
            "node": self.node,
            "address": self.address,
            "params": self.params,
            "serial": self.serial,
            "destructive": self.destructive,
            "depends_on": sorted(self.depends_on),
            "changes": sorted(self.changes),
            "reason": self.reason,
        }
