"""Proxmox VE cluster logic shared by the lab and ``simulate``: quorum and HA placement.

Pure functions over small frozen dataclasses; nothing here imports the rest of the
project, so the lab (a stand-in for Proxmox) and the what-if simulator compute the same
answers from the same code.

The names are imported from their submodules when first used (PEP 562): the planner's
safety replay needs only `quorum`, and every command pays for what it imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provision.lazy import lazy_attributes

if TYPE_CHECKING:
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

_HOME = {
    "CrsMode": "provision.crm.model",
    "Group": "provision.crm.model",
    "HAConfig": "provision.crm.model",
    "NodeAffinityRule": "provision.crm.model",
    "NodeInfo": "provision.crm.model",
    "ResourceAffinityRule": "provision.crm.model",
    "Rule": "provision.crm.model",
    "Service": "provision.crm.model",
    "Move": "provision.crm.placement",
    "Placement": "provision.crm.placement",
    "Recovery": "provision.crm.placement",
    "RecoveryResult": "provision.crm.placement",
    "allowed_nodes": "provision.crm.placement",
    "explain_service_node": "provision.crm.placement",
    "failback_moves": "provision.crm.placement",
    "pending_moves": "provision.crm.placement",
    "recover": "provision.crm.placement",
    "select_service_node": "provision.crm.placement",
    "Member": "provision.crm.quorum",
    "PartitionQuorum": "provision.crm.quorum",
    "QDevice": "provision.crm.quorum",
    "expected_votes": "provision.crm.quorum",
    "partition_quorum": "provision.crm.quorum",
    "qdevice_votes": "provision.crm.quorum",
    "quorum_threshold": "provision.crm.quorum",
    "CompiledRules": "provision.crm.rules",
    "DroppedRule": "provision.crm.rules",
    "compile_rules": "provision.crm.rules",
    "ha_config": "provision.crm.shapes",
    "DEFAULT_POLICY": "provision.crm.shutdown",
    "POLICIES": "provision.crm.shutdown",
    "ShutdownPolicy": "provision.crm.shutdown",
    "shutdown_mode": "provision.crm.shutdown",
}


__getattr__ = lazy_attributes(__name__, _HOME)


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
