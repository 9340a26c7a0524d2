"""Proxmox VE cluster logic shared by the lab and ``simulate``: quorum and HA placement.

Pure functions over small frozen dataclasses; nothing here imports the rest of the
project, so the lab (a stand-in for Proxmox) and the what-if simulator compute the same
answers from the same code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

_WHERE = {
    "CrsMode": "model",
    "Group": "model",
    "HAConfig": "model",
    "NodeAffinityRule": "model",
    "NodeInfo": "model",
    "ResourceAffinityRule": "model",
    "Rule": "model",
    "Service": "model",
    "Move": "placement",
    "Placement": "placement",
    "Recovery": "placement",
    "RecoveryResult": "placement",
    "allowed_nodes": "placement",
    "explain_service_node": "placement",
    "failback_moves": "placement",
    "pending_moves": "placement",
    "recover": "placement",
    "select_service_node": "placement",
    "Member": "quorum",
    "PartitionQuorum": "quorum",
    "QDevice": "quorum",
    "expected_votes": "quorum",
    "partition_quorum": "quorum",
    "qdevice_votes": "quorum",
    "quorum_threshold": "quorum",
    "CompiledRules": "rules",
    "DroppedRule": "rules",
    "compile_rules": "rules",
    "ha_config": "shapes",
    "DEFAULT_POLICY": "shutdown",
    "POLICIES": "shutdown",
    "ShutdownPolicy": "shutdown",
    "shutdown_mode": "shutdown",
}


def __getattr__(name: str) -> Any:
    """Import a name from its module when first asked for (PEP 562): a lab node CLI, a
    process per command, needs only ``quorum``, and importing every module was a fifth of
    an ``ha-manager add``."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'provision.crm' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"provision.crm.{module}"), name)
    globals()[name] = value
    return value


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
