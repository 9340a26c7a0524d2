"""Proxmox VE cluster logic shared by the lab and ``simulate``: quorum and HA placement.

Pure functions over small frozen dataclasses; nothing here imports the rest of the
project, so the lab (a stand-in for Proxmox) and the what-if simulator compute the same
answers from the same code.
"""

from __future__ import annotations

from provision.crm.model import (
    CrsMode,
    Group,
    HAConfig,
    NodeAffinityRule,
    NodeInfo,
    ResourceAffinityRule,
    Rule,
    Service,
)
from provision.crm.placement import (
    Move,
    Placement,
    Recovery,
    RecoveryResult,
    allowed_nodes,
    explain_service_node,
    failback_moves,
    pending_moves,
    recover,
    select_service_node,
)
from provision.crm.quorum import (
    Member,
    PartitionQuorum,
    QDevice,
    expected_votes,
    partition_quorum,
    qdevice_votes,
    quorum_threshold,
)
from provision.crm.rules import CompiledRules, DroppedRule, compile_rules
from provision.crm.shapes import ha_config
from provision.crm.shutdown import DEFAULT_POLICY, POLICIES, ShutdownPolicy, shutdown_mode

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "CompiledRules",
    "CrsMode",
    "DroppedRule",
    "Group",
    "HAConfig",
    "Member",
    "Move",
    "NodeAffinityRule",
    "NodeInfo",
    "PartitionQuorum",
    "Placement",
    "QDevice",
    "Recovery",
    "RecoveryResult",
    "ResourceAffinityRule",
    "Rule",
    "Service",
    "ShutdownPolicy",
    "allowed_nodes",
    "compile_rules",
    "expected_votes",
    "explain_service_node",
    "failback_moves",
    "ha_config",
    "partition_quorum",
    "pending_moves",
    "qdevice_votes",
    "quorum_threshold",
    "recover",
    "select_service_node",
    "shutdown_mode",
]
