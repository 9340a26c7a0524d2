"""Normalisers over API JSON shaped as pve-facts describes (strings, 0/1, hash order)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from provision.discover.ceph import normalise_ceph, normalise_osds, parse_ceph_conf, whole_disk
from provision.discover.cluster import normalise_status, normalise_version
from provision.discover.corosync import normalise_corosync, normalise_nodes, normalise_qdevice
from provision.discover.guests import normalise_guests
from provision.discover.ha import normalise_groups, normalise_resources, normalise_rules
from provision.discover.network import normalise_interface, normalise_network
from provision.discover.storage import normalise_storage, normalise_storages
from provision.spec.network import Bond, Bridge, Nic, Vlan
from provision.spec.storage import CephFsStorage, PbsStorage

FIXTURES = Path(__file__).parents[1] / "fixtures" / "api"


def answers(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def test_status_standalone_has_no_cluster_entry() -> None:
    st = normalise_status(answers("blank-pve8")["/cluster/status"])
    assert not st.clustered and st.name is None and st.local_node == "pve01"
    assert st.nodes["pve01"].nodeid == 0 and st.nodes["pve01"].online


def test_status_clustered_reads_quorum_and_version() -> None:
    data = answers("built-pve8")["/cluster/status"]
    data[0]["quorate"] = 0
    data[2]["online"] = 0
    st = normalise_status(data)
    assert st.clustered and st.name == "lab" and st.config_version == 7
    assert st.quorate is False
    assert [n for n, m in st.nodes.items() if not m.online] == ["pve02"]


def test_version_major() -> None:
    assert normalise_version({"version": "9.1.1", "release": "9.1"}) == (9, "9.1.1")
    assert normalise_version(None) == (None, None)


def test_corosync_nodes_strings_and_hash_order() -> None:
    nodes = normalise_nodes(answers("built-pve8")["/cluster/config/nodes"])
    assert [n.name for n in nodes] == ["pve01", "pve02", "pve03"]
    assert nodes[1].nodeid == 2 and nodes[1].votes == 1
    assert nodes[1].links == {0: "10.10.10.12", 1: "10.10.11.12"}


def test_corosync_links_priorities_and_networks() -> None:
    a = answers("built-pve8")
    nodes = normalise_nodes(a["/cluster/config/nodes"])
    addrs = {"pve01": [ipaddress.IPv4Interface("10.10.10.11/24"), ipaddress.IPv4Interface("10.10.11.11/24")]}
    coro = normalise_corosync(nodes, a["/cluster/config/totem"], addrs)
    assert [(link.number, link.priority) for link in coro.links] == [(0, 20), (1, 10)]
    assert str(coro.links[0].network) == "10.10.10.0/24"
    assert {k: str(v) for k, v in coro.links[1].addresses.items()} == {
        "pve01": "10.10.11.11", "pve02": "10.10.11.12", "pve03": "10.10.11.13"}
    # corosync's defaults for knet with secauth on
    assert (coro.crypto_cipher, coro.crypto_hash, coro.token_coefficient) == ("aes256", "sha256", None)


def test_totem_without_priority_and_with_token_coefficient() -> None:
    nodes = normalise_nodes([{"node": "a", "name": "a", "nodeid": "1", "quorum_votes": "2", "ring0_addr": "10.0.0.1"}])
    totem = {"interface": {"0": {"linknumber": "0"}}, "token_coefficient": "125"}
    coro = normalise_corosync(nodes, totem, {})
    assert coro.links[0].priority is None and coro.token_coefficient == 125
    assert nodes[0].votes == 2


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({}, None),
        ({"Algorithm": "Fifty-Fifty split", "QNetd host": "10.0.0.99:5403", "Tie-breaker": "Node with lowest node ID",
          "State": "Connected", "Model": "Net"}, ("10.0.0.99", "ffsplit", "lowest")),
        ({"Algorithm": "LMS", "QNetd host": "qnetd.example:5403", "Tie-breaker": "Node with ID 3"},
         ("qnetd.example", "lms", 3)),
    ],
)
def test_qdevice(data: dict[str, str], expected: tuple[str, str, Any] | None) -> None:
    qdev, _, _ = normalise_qdevice(data, "\n# cat /etc/pve/corosync.conf 2>/dev/null\nquorum {\n}\n", "pve01")
    if expected is None:
        assert qdev is None
    else:
        assert qdev is not None and (qdev.host, qdev.algorithm, qdev.tie_breaker) == expected


_CONF = """quorum {
  device {
    model: net
    net {
      algorithm: lms
      host: 10.0.0.99
      tls: on
    }
  }
  provider: corosync_votequorum
}

totem {
  cluster_name: lab
}
"""


def test_qdevice_with_its_daemon_down_comes_from_corosync_conf() -> None:
    """/cluster/config/qdevice is {} when the daemon does not run (ClusterConfig.pm); the
    report's corosync.conf still configures the device: a note, not a missing QDevice."""
    report = ("\n==== info about cluster ====\n\n# pvecm status\n"
              "\n# cat /etc/pve/corosync.conf 2>/dev/null\n" + _CONF + "\n# ha-manager status\nquorum OK\n")
    qdev, state, notes = normalise_qdevice({}, report, "pve01")
    assert qdev is not None and (qdev.host, qdev.algorithm, qdev.tie_breaker) == ("10.0.0.99", "lms", "lowest")
    assert state == "not running"
    assert notes and "corosync-qdevice is not running on pve01" in notes[0]
    none, _, quiet = normalise_qdevice({}, report.replace("device {", "xdevice {"), "pve01")
    assert none is None and quiet == []
    unknown, _, why = normalise_qdevice({}, None, "pve01")
    assert unknown is None and "could not be read" in why[0]


def test_network_built_node() -> None:
    ifaces, notes = normalise_network(answers("built-pve8")["/nodes/pve02/network"], "pve02")
    assert notes == []
    by = {i.name: i for i in ifaces}
    assert [i.name for i in ifaces] == sorted(by)
    bond0 = by["bond0"]
    assert isinstance(bond0, Bond) and bond0.slaves == ["eno2", "eno3"] and bond0.primary == "eno2"
    assert bond0.mode == "active-backup" and bond0.miimon == 100 and str(bond0.address) == "10.10.10.12/24"
    bond1 = by["bond1"]
    assert isinstance(bond1, Bond) and bond1.mtu == 9000 and bond1.xmit_hash_policy == "layer3+4"
    assert bond1.lacp_rate == "fast"
    vmbr0 = by["vmbr0"]
    assert isinstance(vmbr0, Bridge) and vmbr0.vlan_aware and vmbr0.vids == "2-4094" and vmbr0.ports == ["eno1"]
    assert str(vmbr0.gateway) == "192.168.10.1"
    vlan = by["bond1.20"]
    assert isinstance(vlan, Vlan) and (vlan.raw_device, vlan.tag) == ("bond1", 20)


def test_network_defaults_made_explicit() -> None:
    bond = normalise_interface({"iface": "bond3", "type": "bond", "slaves": "eno2 eno1"})
    assert isinstance(bond, Bond) and bond.mode == "balance-rr" and bond.miimon == 100  # PVE defaults
    assert bond.autostart is False  # no `auto` line
    numeric = normalise_interface({"iface": "bond4", "type": "bond", "slaves": "eno3", "bond_mode": "1",
                                   "bond-primary": "eno3"})
    assert isinstance(numeric, Bond) and numeric.mode == "active-backup" and numeric.primary == "eno3"
    bridge = normalise_interface({"iface": "vmbr9", "type": "bridge", "bridge_ports": "none",
                                  "bridge_vlan_aware": 1, "netmask": "24", "address": "10.9.9.9"})
    assert isinstance(bridge, Bridge) and bridge.ports == [] and bridge.vids == "2-4094"
    assert str(bridge.address) == "10.9.9.9/24"
    nic = normalise_interface({"iface": "eno9", "type": "eth", "mtu": "1500", "comments": "uplink\n"})
    assert isinstance(nic, Nic) and nic.mtu == 1500 and nic.comment == "uplink"
    named = normalise_interface({"iface": "vlan50", "type": "vlan", "vlan-raw-device": "bond0", "vlan-id": "50"})
    assert isinstance(named, Vlan) and (named.raw_device, named.tag) == ("bond0", 50)


def test_network_unmodelled_types_become_notes() -> None:
    ifaces, notes = normalise_network(
        [{"iface": "vmbr0:1", "type": "alias"}, {"iface": "ovsbr", "type": "OVSBridge"},
         {"iface": "eno1", "type": "eth"}], "pve01")
    assert [i.name for i in ifaces] == ["eno1"]
    assert len(notes) == 2 and "vmbr0:1" in notes[0]


def test_ceph_conf_and_devices() -> None:
    conf = parse_ceph_conf("[global]\n public network = 10.1.0.0/24\n\tfsid = abc\n[client]\n fsid = other\n")
    assert conf == {"public_network": "10.1.0.0/24", "fsid": "abc"}
    assert whole_disk("/dev/sdb1") == "/dev/sdb"
    assert whole_disk("/dev/nvme0n1p2") == "/dev/nvme0n1"
    assert whole_disk("/dev/dm-3") == "/dev/dm-3"


def test_ceph_built() -> None:
    a = answers("built-pve8")
    disks = {n: a[f"/nodes/{n}/disks/list?skipsmart=1"] for n in ("pve01", "pve02", "pve03")}
    ceph, fsid, mons, osds, notes = normalise_ceph(
        a["/nodes/pve01/ceph/cfg/raw"], a["/nodes/pve01/ceph/mon"], a["/nodes/pve01/ceph/mgr"],
        a["/nodes/pve01/ceph/mds"], a["/nodes/pve01/ceph/osd"], a["/nodes/pve01/ceph/pool"],
        a["/nodes/pve01/ceph/fs"], disks)
    assert ceph is not None and notes == []
    assert fsid and str(ceph.public_network) == "10.20.20.0/24" and str(ceph.cluster_network) == "10.30.30.0/24"
    assert ceph.mons == ["pve01", "pve02", "pve03"] and ceph.mgrs == ["pve01", "pve02"]
    assert ceph.mdss == ["pve01", "pve02"]
    # .mgr and the CephFS pools are not user pools
    assert [p.name for p in ceph.pools] == ["vm-pool"]
    assert ceph.pools[0].pg_autoscale_mode == "on" and ceph.pools[0].application == "rbd"
    assert [f.name for f in ceph.filesystems] == ["cephfs"] and ceph.filesystems[0].pg_num == 32
    # the device of each OSD comes from the disk list (blfsdev is a dm path)
    assert len(osds) == 18 and osds[7].node == "pve02" and osds[7].device == "/dev/sdc" and osds[7].id == 7
    assert all(m.in_quorum for m in mons)


def test_osd_without_disk_list_falls_back_to_blfsdev() -> None:
    tree = {"root": {"children": [{"type": "host", "name": "n1", "children": [
        {"id": 4, "name": "osd.4", "type": "osd", "leaf": 1, "status": "down", "in": 0, "blfsdev": "/dev/sdd1",
         "dbdev": "/dev/nvme0n1p3"}]}]}}
    (osd,) = normalise_osds(tree, {})
    assert (osd.node, osd.device, osd.db_device, osd.up, osd.in_) == ("n1", "/dev/sdd", "/dev/nvme0n1", False, False)


def test_ceph_not_initialised() -> None:
    assert normalise_ceph(None, None, None, None, None, None, None, {})[0] is None


def test_storage_keys_and_secrets() -> None:
    items = answers("built-pve8")["/storage"]
    storages, notes = normalise_storages([*items, {"storage": "x", "type": "cifs", "server": "s", "share": "y"}])
    by = {s.name: s for s in storages}
    assert notes and "cifs" in notes[0]
    cephfs = by["cephfs"]
    assert isinstance(cephfs, CephFsStorage) and cephfs.fs_name == "cephfs"
    assert cephfs.content == ["iso", "snippets", "vztmpl"]  # sorted set
    pbs = by["pbs-backup"]
    assert isinstance(pbs, PbsStorage) and pbs.prune_backups == "keep-daily=7,keep-weekly=4"
    assert pbs.password is None  # never returned by the API
    empty = normalise_storage({"storage": "e", "type": "dir", "path": "/e", "content": "none", "nodes": "b,a"})
    assert empty is not None and empty.content == [] and empty.nodes == ["a", "b"]


def test_ha_groups_rules_resources_defaults() -> None:
    groups = normalise_groups(answers("built-pve8")["/cluster/ha/groups"])
    assert groups[1].name == "web" and groups[1].nodes == {"pve01": 2, "pve02": 2, "pve03": 1}
    assert groups[0].restricted and not groups[0].nofailback
    assert normalise_groups([{"group": "g", "nodes": "b,a:3"}])[0].nodes == {"a": 3, "b": 0}
    res = normalise_resources([{"sid": "vm:100", "type": "vm"}, {"sid": "ct:101", "state": "enabled",
                                                                "failback": 0, "max_restart": 3}])
    assert (res[1].state, res[1].max_restart, res[1].max_relocate, res[1].failback) == ("started", 1, 1, True)
    assert (res[0].sid, res[0].state, res[0].max_restart, res[0].failback) == ("ct:101", "started", 3, False)
    # a PVE 8 resource has no failback key: discovered, it must still be a valid PVE 8 spec
    assert "failback" not in res[1].model_fields_set and "failback" in res[0].model_fields_set
    rules = normalise_rules(answers("migrated-pve9")["/cluster/ha/rules"])
    assert [r.name for r in rules] == ["ha-group-db", "ha-group-web"]
    assert rules[0].strict and rules[1].resources == ["ct:200", "vm:100", "vm:101"]  # type: ignore[union-attr]


def test_guests() -> None:
    guests = normalise_guests(answers("built-pve8")["/cluster/resources?type=vm"])
    assert [g.sid for g in guests] == ["ct:200", "vm:100", "vm:101", "vm:102"]
    assert guests[1].memory_mib == 4096 and guests[1].node == "pve01"


def test_ceph_without_readable_conf_uses_mon_addresses() -> None:
    mons = [{"name": "pve01", "host": "pve01", "addr": "10.20.20.11:6789/0", "quorum": 1, "state": "running"}]
    addrs = {"pve01": [ipaddress.IPv4Interface("10.20.20.11/24")]}
    ceph, fsid, _, _, notes = normalise_ceph(None, mons, [], [], None, [], [], {}, addrs)
    assert ceph is not None and str(ceph.public_network) == "10.20.20.0/24" and ceph.cluster_network is None
    assert fsid is None and "not compared" in notes[0]
