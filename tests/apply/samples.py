"""Representative plan actions, one or more per kind, shaped like docs/plan-format.md."""

from __future__ import annotations

from typing import Any

NODES = ["pve01", "pve02", "pve03"]
FINGERPRINT = ":".join(["5c", "d4", "1b", "7e", "9a", "20", "6f", "33"] * 4)

LAB_IFACES: list[dict[str, Any]] = [
    {"name": "eno1", "type": "nic"},
    {"name": "eno2", "type": "nic"},
    {"name": "eno3", "type": "nic"},
    {"name": "eno4", "type": "nic", "address": "10.10.11.11/24"},
    {"name": "enp65s0f0", "type": "nic"},
    {"name": "enp65s0f1", "type": "nic"},
    {
        "name": "vmbr0",
        "type": "bridge",
        "ports": ["eno1"],
        "vlan_aware": True,
        "address": "192.168.10.11/24",
        "gateway": "192.168.10.1",
    },
    {
        "name": "bond0",
        "type": "bond",
        "mode": "active-backup",
        "slaves": ["eno2", "eno3"],
        "primary": "eno2",
        "address": "10.10.10.11/24",
    },
    {
        "name": "bond1",
        "type": "bond",
        "mode": "802.3ad",
        "slaves": ["enp65s0f0", "enp65s0f1"],
        "xmit_hash_policy": "layer3+4",
        "lacp_rate": "fast",
        "mtu": 9000,
    },
    {"name": "bond1.20", "type": "vlan", "address": "10.20.20.11/24", "mtu": 9000},
    {"name": "bond1.30", "type": "vlan", "address": "10.30.30.11/24", "mtu": 9000},
]


def _a(
    i: int, phase: str, kind: str, node: str | None, address: str, params: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    return {
        "id": f"a{i:03d}",
        "phase": phase,
        "kind": kind,
        "node": node,
        "address": address,
        "params": params,
        "serial": kw.get("serial", False),
        "destructive": kw.get("destructive", False),
        "depends_on": kw.get("depends_on", []),
    }


def all_kinds_plan() -> dict[str, Any]:
    """One plan that exercises every action kind (not a plan anyone would apply)."""
    links = [
        {"number": 0, "address": "10.10.10.11", "priority": 20},
        {"number": 1, "address": "10.10.11.11", "priority": 10},
    ]
    acts = [
        _a(1, "network", "network_apply", "pve01", 'network["pve01"]', {"interfaces": LAB_IFACES}, serial=True),
        _a(
            2,
            "cluster",
            "cluster_create",
            "pve01",
            "cluster",
            {"cluster_name": "lab", "links": links, "nodeid": 1, "votes": 1},
        ),
        _a(
            3,
            "cluster",
            "cluster_join",
            "pve02",
            'node["pve02"]',
            {
                "peer": "192.168.10.11",
                "links": [{"number": 0, "address": "10.10.10.12"}, {"number": 1, "address": "10.10.11.12"}],
                "nodeid": 2,
                "votes": 1,
            },
            serial=True,
            depends_on=["a002"],
        ),
        _a(
            4,
            "corosync",
            "corosync_link_set",
            None,
            "corosync.link[1]",
            {"number": 1, "priority": 15, "addresses": {"pve01": "10.10.11.11", "pve02": "10.10.11.12"}},
        ),
        _a(5, "qdevice", "qdevice_setup", None, "quorum.qdevice", {"host": "192.168.10.5", "algorithm": "ffsplit"}),
        _a(6, "ceph", "ceph_init", None, "ceph", {"network": "10.20.20.0/24", "cluster_network": "10.30.30.0/24"}),
        _a(7, "ceph", "ceph_mon_create", "pve01", 'ceph.mon["pve01"]', {"address": "10.20.20.11"}, serial=True),
        _a(
            8,
            "ceph",
            "ceph_mon_destroy",
            "pve02",
            'ceph.mon["pve02"]',
            {"monid": "pve02"},
            serial=True,
            destructive=True,
        ),
        _a(9, "ceph", "ceph_mgr_create", "pve01", 'ceph.mgr["pve01"]', {}),
        _a(
            10,
            "ceph",
            "ceph_osd_create",
            "pve01",
            'ceph.osd["pve01:/dev/sdb"]',
            {"device": "/dev/sdb", "device_class": "ssd", "db_device": "/dev/nvme0n1", "db_size_gib": 60},
        ),
        _a(
            11,
            "ceph",
            "ceph_osd_destroy",
            "pve02",
            'ceph.osd["pve02:/dev/sdc"]',
            {"device": "/dev/sdc", "osdid": 7},
            destructive=True,
        ),
        _a(
            12,
            "ceph",
            "ceph_pool_create",
            None,
            'ceph.pool["vm-pool"]',
            {
                "name": "vm-pool",
                "size": 3,
                "min_size": 2,
                "pg_autoscale_mode": "on",
                "application": "rbd",
                "crush_rule": "replicated_rule",
                "add_storage": False,
            },
        ),
        _a(13, "ceph", "ceph_pool_set", None, 'ceph.pool["vm-pool"]', {"name": "vm-pool", "size": 3, "min_size": 2}),
        _a(14, "ceph", "ceph_pool_destroy", None, 'ceph.pool["old"]', {"name": "old"}, destructive=True),
        _a(15, "ceph", "ceph_mds_create", "pve01", 'ceph.mds["pve01"]', {}),
        _a(
            16,
            "ceph",
            "ceph_fs_create",
            None,
            'ceph.fs["cephfs"]',
            {"name": "cephfs", "pg_num": 32, "add_storage": False},
        ),
        _a(
            17,
            "storage",
            "storage_add",
            None,
            'storage["pbs-backup"]',
            {
                "name": "pbs-backup",
                "type": "pbs",
                "server": "192.168.10.6",
                "datastore": "main",
                "username": "backup@pbs",
                "password": {"secret": "env:PBS_PASSWORD"},
                "fingerprint": FINGERPRINT,
                "content": ["backup"],
                "prune_backups": "keep-daily=7,keep-weekly=4",
            },
        ),
        _a(
            18,
            "storage",
            "storage_add",
            None,
            'storage["nfs-iso"]',
            {
                "name": "nfs-iso",
                "type": "nfs",
                "server": "192.168.10.5",
                "export": "/export/iso",
                "options": "vers=4.2",
                "content": ["iso", "vztmpl"],
                "comment": "{{ not a template }}",
            },
        ),
        _a(
            19,
            "storage",
            "storage_set",
            None,
            'storage["ceph-vm"]',
            {"name": "ceph-vm", "type": "rbd", "content": ["images"], "krbd": True},
        ),
        _a(20, "storage", "storage_remove", None, 'storage["old"]', {"name": "old"}, destructive=True),
        _a(
            21,
            "ha_placement",
            "ha_group_add",
            None,
            'ha.group["web"]',
            {"name": "web", "nodes": {"pve01": 2, "pve02": 2, "pve03": 1}},
        ),
        _a(
            22,
            "ha_placement",
            "ha_group_set",
            None,
            'ha.group["db"]',
            {"name": "db", "nodes": {"pve03": 2, "pve02": 1}, "restricted": True},
        ),
        _a(23, "ha_placement", "ha_group_remove", None, 'ha.group["old"]', {"name": "old"}),
        _a(
            24,
            "ha_placement",
            "ha_rule_add",
            None,
            'ha.rule["prefer-pve01"]',
            {
                "name": "prefer-pve01",
                "type": "node-affinity",
                "resources": ["vm:100"],
                "nodes": {"pve01": 2, "pve02": 0},
                "strict": True,
            },
        ),
        _a(
            25,
            "ha_placement",
            "ha_rule_set",
            None,
            'ha.rule["apart"]',
            {"name": "apart", "type": "resource-affinity", "resources": ["vm:100", "vm:101"], "affinity": "negative"},
        ),
        _a(26, "ha_placement", "ha_rule_remove", None, 'ha.rule["old"]', {"name": "old"}),
        _a(
            27,
            "ha_resources",
            "ha_resource_add",
            None,
            'ha.resource["ct:200"]',
            {
                "sid": "ct:200",
                "state": "started",
                "group": "web",
                "max_restart": 1,
                "max_relocate": 1,
                "comment": "internal DNS",
            },
        ),
        _a(28, "ha_resources", "ha_resource_set", None, 'ha.resource["vm:102"]', {"sid": "vm:102", "max_relocate": 2}),
        _a(29, "ha_resources", "ha_resource_remove", None, 'ha.resource["vm:999"]', {"sid": "vm:999"}),
    ]
    return {"id": "p-allkinds", "pve_version": 8, "actions": acts}
