"""The cluster spec: typed models shared by desired and observed state.

This package imports nothing else of pve-provision; everything else imports it.
"""

from provision.spec.addresses import Address
from provision.spec.ceph import Ceph, CephFs, Osd, Pool
from provision.spec.cluster import Cluster
from provision.spec.connection import ApiEndpoint, Connection
from provision.spec.consistency import SpecIssue, check
from provision.spec.corosync import Corosync, CorosyncLink, QDevice, Quorum
from provision.spec.guests import Guest
from provision.spec.ha import Ha, HaGroup, HaResource, HaRule, NodeAffinityRule, ResourceAffinityRule
from provision.spec.loader import Diagnostic, LoadedStack, SpecError, load_stack, load_text
from provision.spec.network import Bond, Bridge, Interface, Nic, Vlan
from provision.spec.node import Capacity, Node, Ssh
from provision.spec.secrets import SecretRef, SecretUnavailableError
from provision.spec.storage import (
    CephFsStorage,
    DirStorage,
    IscsiStorage,
    LvmThinStorage,
    NfsStorage,
    PbsStorage,
    RbdStorage,
    Storage,
    ZfsPoolStorage,
)

__all__ = [
    "Address",
    "ApiEndpoint",
    "Bond",
    "Bridge",
    "Capacity",
    "Ceph",
    "CephFs",
    "CephFsStorage",
    "Cluster",
    "Connection",
    "Corosync",
    "CorosyncLink",
    "Diagnostic",
    "DirStorage",
    "Guest",
    "Ha",
    "HaGroup",
    "HaResource",
    "HaRule",
    "Interface",
    "IscsiStorage",
    "LoadedStack",
    "LvmThinStorage",
    "NfsStorage",
    "Nic",
    "Node",
    "NodeAffinityRule",
    "Osd",
    "PbsStorage",
    "Pool",
    "QDevice",
    "Quorum",
    "RbdStorage",
    "ResourceAffinityRule",
    "SecretRef",
    "SecretUnavailableError",
    "SpecError",
    "SpecIssue",
    "Ssh",
    "Storage",
    "Vlan",
    "ZfsPoolStorage",
    "check",
    "load_stack",
    "load_text",
]
