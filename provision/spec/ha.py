"""High availability: groups (PVE 8), rules (PVE 9) and resources."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from provision.spec.base import CONFIG_ID, INT32_MAX, Int, SpecModel, Text, check_node_names, described
from provision.spec.hapolicy import AutoRebalance, CrsMode, ShutdownPolicy

SID = described(r"^(vm|ct):[1-9][0-9]{2,8}$",
                "a resource id like vm:100 or ct:200 (vmid 100 to 999999999)")
ResourceState = Literal["started", "stopped", "disabled", "ignored"]


def _check_priorities(value: dict[str, int]) -> dict[str, int]:
    check_node_names(value)
    for node, prio in value.items():
        if prio < 0 or prio > 1000:
            raise ValueError(f"priority {prio} of {node} is outside 0..1000")
    if not value:
        raise ValueError("at least one node is required")
    return dict(sorted(value.items()))


class HaGroup(SpecModel):
    """PVE 8 HA group: where resources may run, with priorities (higher wins)."""

    name: Text = Field(pattern=CONFIG_ID, description="Group id.")
    nodes: dict[Text, Int] = Field(description="Member nodes and their priority (default 0; higher wins).")
    restricted: bool = Field(default=False, description="Resources may only run on members.")
    nofailback: bool = Field(default=False, description="Do not move back when a higher-priority node returns.")
    comment: Text | None = Field(default=None, description="Free text.")

    @field_validator("nodes")
    @classmethod
    def _priorities(cls, value: dict[str, int]) -> dict[str, int]:
        return _check_priorities(value)


class NodeAffinityRule(SpecModel):
    """PVE 9 node-affinity rule: preferred (or, with strict, required) nodes."""

    type: Literal["node-affinity"] = Field(description="Rule type.")
    name: Text = Field(pattern=CONFIG_ID, description="Rule id.")
    resources: list[Text] = Field(min_length=1, description="HA resources (sids) the rule applies to.")
    nodes: dict[Text, Int] = Field(description="Nodes and their priority (higher wins).")
    strict: bool = Field(default=False, description="Only the listed nodes may run the resources.")
    affinity: Literal["positive", "negative"] = Field(
        default="positive",
        description="positive: prefer (strict: require) the listed nodes; negative: avoid (strict: never use) "
        "them, priorities 0 (pve-ha-manager 5.2.5, PVE 9.2).",
    )
    disable: bool = Field(default=False, description="Keep the rule but do not apply it.")
    comment: Text | None = Field(default=None, description="Free text.")

    @field_validator("nodes")
    @classmethod
    def _priorities(cls, value: dict[str, int]) -> dict[str, int]:
        return _check_priorities(value)

    @field_validator("resources")
    @classmethod
    def _sids(cls, value: list[str]) -> list[str]:
        return _check_sids(value)


class ResourceAffinityRule(SpecModel):
    """PVE 9 resource-affinity rule: keep resources together or apart."""

    type: Literal["resource-affinity"] = Field(description="Rule type.")
    name: Text = Field(pattern=CONFIG_ID, description="Rule id.")
    resources: list[Text] = Field(min_length=2, description="At least two HA resources (sids).")
    affinity: Literal["positive", "negative"] = Field(description="positive: together; negative: apart.")
    disable: bool = Field(default=False, description="Keep the rule but do not apply it.")
    comment: Text | None = Field(default=None, description="Free text.")

    @field_validator("resources")
    @classmethod
    def _sids(cls, value: list[str]) -> list[str]:
        return _check_sids(value)


def _check_sids(value: list[str]) -> list[str]:
    import re

    for sid in value:
        if not re.match(SID, sid):
            raise ValueError(f"{sid!r} is not a resource id like vm:100 or ct:200")
    return sorted(set(value))


HaRule = Annotated[NodeAffinityRule | ResourceAffinityRule, Field(discriminator="type")]


class HaResource(SpecModel):
    """A guest under HA management."""

    sid: Text = Field(pattern=SID, description="Resource id: vm:<vmid> or ct:<vmid>.")
    state: ResourceState = Field(default="started", description="Requested state.")
    group: Text | None = Field(default=None, description="HA group (PVE 8 only).")
    max_restart: Int = Field(
        default=1, ge=0, le=INT32_MAX, description="Restarts on the same node after a failed start."
    )
    max_relocate: Int = Field(default=1, ge=0, le=INT32_MAX, description="Relocations after restarts are exhausted.")
    failback: bool = Field(
        default=True, description="PVE 9: move back to a higher-priority node when it returns."
    )
    comment: Text | None = Field(default=None, description="Free text.")

    @property
    def vmid(self) -> int:
        return int(self.sid.split(":", 1)[1])


class Ha(SpecModel):
    """HA manager configuration."""

    crs: CrsMode = Field(
        default="basic",
        description="Cluster resource scheduler for HA placement (datacenter.cfg `crs: ha=`); dynamic needs PVE 9.",
    )
    groups: list[HaGroup] = Field(default_factory=list, description="HA groups (PVE 8).")
    rules: list[HaRule] = Field(default_factory=list, description="HA rules (PVE 9).")
    resources: list[HaResource] = Field(default_factory=list, description="HA-managed guests.")
    shutdown_policy: ShutdownPolicy | None = Field(
        default=None,
        description="What HA does with a node's services when the node shuts down or reboots (datacenter.cfg "
        "`ha: shutdown_policy=`; PVE's default conditional). Unset: left as the cluster has it.",
    )
    rebalance_on_start: bool | None = Field(
        default=None,
        description="Let the CRS pick the node when a stopped HA service is started (`crs: ha-rebalance-on-start`). "
        "Unset: left as the cluster has it.",
    )
    auto_rebalance: AutoRebalance | None = Field(
        default=None,
        description="PVE 9: automatic rebalancing of HA resources (`crs: ha-auto-rebalance...`). Unset: left as "
        "the cluster has it.",
    )

    def resource(self, sid: str) -> HaResource | None:
        return next((r for r in self.resources if r.sid == sid), None)
