"""Proxmox VE cluster logic shared by the lab and ``simulate``: quorum and HA placement.

Pure functions over small frozen dataclasses; nothing here imports the rest of the
project, so the lab (a stand-in for Proxmox) and the what-if simulator compute the same
answers from the same code.
"""

from __future__ import annotations

from provision.crm.quorum import (
    Member,
    PartitionQuorum,
    QDevice,
    expected_votes,
    partition_quorum,
    qdevice_votes,
    quorum_threshold,
)

__all__ = [
    "Member",
    "PartitionQuorum",
    "QDevice",
    "expected_votes",
    "partition_quorum",
    "qdevice_votes",
    "quorum_threshold",
]
