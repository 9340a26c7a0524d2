"""The spec models one by one: what each accepts, what it rejects and why, and the
defaults that make an omitted key mean "what Proxmox does"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from provision.spec import (
    Address,
    ApiEndpoint,
    Bond,
    Bridge,
    Ceph,
    CephFs,
    Cluster,
    Connection,
    Corosync,
    CorosyncLink,
    Guest,
    HaGroup,
    HaResource,
    Interface,
    Nic,
    Node,
    NodeAffinityRule,
    Osd,
    Pool,
    QDevice,
    ResourceAffinityRule,
    SecretRef,
    SecretUnavailableError,
    Storage,
    Vlan,
)

IFACE: TypeAdapter[Any] = TypeAdapter(Interface)
STORAGE: TypeAdapter[Any] = TypeAdapter(Storage)
FINGERPRINT = ":".join(["ab"] * 32)


def _error(fn: Any, *args: Any) -> str:
    with pytest.raises(ValidationError) as exc:
        fn(*args)
    return str(exc.value)


# -- interfaces ---------------------------------------------------------------------
def test_nic_defaults_and_effective_mtu() -> None:
    nic = IFACE.validate_python({"name": "eno1", "type": "nic"})
    assert isinstance(nic, Nic)
    # autostart stays unset on the bare model; the Cluster decides it (see below)
    assert (nic.address, nic.mtu, nic.effective_mtu, nic.autostart) == (None, None, 1500, None)
    jumbo = IFACE.validate_python({"name": "eno1", "type": "nic", "mtu": 9000, "address": "10.0.0.1/24"})
    assert jumbo.effective_mtu == 9000 and str(jumbo.address.network) == "10.0.0.0/24"


def test_autostart_defaults_follow_what_proxmox_writes() -> None:
    """Bond slaves and addressed NICs get `auto`; a bare NIC (e.g. a bridge port) does not,
    as on a freshly installed node; an explicit setting always wins."""
    from provision.spec import load_text

    stack = load_text(
        """
name: t
pve_version: 8
nodes:
  - name: pve01
    nodeid: 1
    address: 192.168.1.11
    interfaces:
      - {name: eno1, type: nic}
      - {name: eno2, type: nic}
      - {name: eno3, type: nic}
      - {name: eno4, type: nic, address: 10.1.1.11/24}
      - {name: eno5, type: nic, autostart: true}
      - {name: bond0, type: bond, slaves: [eno2, eno3], mode: active-backup}
      - {name: vmbr0, type: bridge, ports: [eno1], address: 192.168.1.11/24, autostart: false}
corosync:
  links: [{number: 0, network: 10.1.1.0/24}]
"""
    )
    auto = {i.name: i.autostart for i in stack.cluster.nodes[0].interfaces}
    assert auto == {"eno1": False, "eno2": True, "eno3": True, "eno4": True, "eno5": True,
                    "bond0": True, "vmbr0": False}


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"name": "this-name-is-too-long", "type": "nic"}, "name"),
        ({"name": "1eth", "type": "nic"}, "name"),
        ({"name": "eno1", "type": "nic", "mtu": 576}, "greater than or equal to 1280"),
        ({"name": "eno1", "type": "nic", "address": "10.0.0.300/24"}, "address"),
        ({"name": "eno1", "type": "nic", "gateway": "10.0.0.1"}, "a gateway needs an address"),
        ({"name": "eno1", "type": "nic", "address": "10.0.0.5/24", "gateway": "10.1.0.1"}, "not inside 10.0.0.0/24"),
        ({"name": "eno1", "type": "nic", "speed": 10}, "Extra inputs are not permitted"),
        ({"name": "eno1", "type": "wifi"}, "does not match any of the expected tags"),
        ({"name": "eno1"}, "Unable to extract tag using discriminator"),
    ],
)
def test_nic_rejects(data: dict[str, Any], needle: str) -> None:
    assert needle in _error(IFACE.validate_python, data)


def test_bond_defaults_are_proxmox_defaults() -> None:
    bond = IFACE.validate_python({"name": "bond0", "type": "bond", "slaves": ["eno1", "eno2"]})
    assert isinstance(bond, Bond)
    assert (bond.mode, bond.miimon, bond.primary) == ("balance-rr", 100, None)


def test_bond_with_mode_options() -> None:
    ab = Bond.model_validate({"name": "bond0", "type": "bond", "slaves": ["a", "b"], "mode": "active-backup",
                              "primary": "a"})
    lacp = Bond.model_validate({"name": "bond1", "type": "bond", "slaves": ["c", "d"], "mode": "802.3ad",
                                "xmit_hash_policy": "layer3+4", "lacp_rate": "fast"})
    assert ab.primary == "a" and lacp.lacp_rate == "fast"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"name": "uplink"}, "should match pattern"),
        ({"slaves": []}, "at least 1 item"),
        ({"slaves": ["a", "a"]}, "slave listed twice: a"),
        ({"mode": "balance-rr", "primary": "a"}, "'primary' only applies to mode active-backup"),
        ({"mode": "active-backup", "primary": "z"}, "primary 'z' is not one of the slaves"),
        ({"mode": "active-backup", "xmit_hash_policy": "layer2"}, "xmit_hash_policy"),
        ({"mode": "balance-xor", "lacp_rate": "fast"}, "'lacp_rate' only applies to mode 802.3ad"),
        ({"mode": "lacp"}, "mode"),
    ],
)
def test_bond_rejects(extra: dict[str, Any], needle: str) -> None:
    data = {"name": "bond0", "type": "bond", "slaves": ["a", "b"], **extra}
    assert needle in _error(Bond.model_validate, data)


def test_bridge_defaults_and_vids() -> None:
    br = IFACE.validate_python({"name": "vmbr0", "type": "bridge", "ports": ["eno1"]})
    assert isinstance(br, Bridge)
    assert (br.vlan_aware, br.vids, br.stp, br.forward_delay) == (False, "2-4094", False, 0)
    assert Bridge.model_validate({"name": "vmbr1", "type": "bridge", "vids": "10 20-30"}).vids == "10 20-30"
    assert "vids" in _error(Bridge.model_validate, {"name": "vmbr1", "type": "bridge", "vids": "10,20"})
    assert "forward_delay" in _error(Bridge.model_validate, {"name": "vmbr1", "type": "bridge", "forward_delay": -1})


def test_vlan_derives_parent_and_tag_from_its_name() -> None:
    vlan = IFACE.validate_python({"name": "bond1.20", "type": "vlan"})
    assert isinstance(vlan, Vlan) and (vlan.raw_device, vlan.tag) == ("bond1", 20)
    named = Vlan.model_validate({"name": "ceph", "type": "vlan", "raw_device": "bond1", "tag": 30})
    assert (named.raw_device, named.tag) == ("bond1", 30)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"name": "ceph"}, "needs both 'raw_device' and 'tag'"),
        ({"name": "ceph", "tag": 30}, "needs both 'raw_device' and 'tag'"),
        ({"name": "bond1.20", "tag": 21}, "name says tag 20 but tag is 21"),
        ({"name": "bond1.20", "raw_device": "bond0"}, "name says parent 'bond1' but raw_device is 'bond0'"),
        ({"name": "ceph", "raw_device": "bond1", "tag": 4095}, "less than or equal to 4094"),
    ],
)
def test_vlan_rejects(data: dict[str, Any], needle: str) -> None:
    assert needle in _error(Vlan.model_validate, {"type": "vlan", **data})


# -- storage ---------------------------------------------------------------------
VALID_STORAGE = [
    {"name": "ceph-vm", "type": "rbd", "pool": "vm-pool", "content": ["rootdir", "images", "images"]},
    {"name": "ext", "type": "rbd", "pool": "p", "monhost": ["10.0.0.1"], "username": "admin",
     "keyring": {"file": "/etc/pve/priv/ceph/ext.keyring"}},
    {"name": "cephfs", "type": "cephfs"},
    {"name": "nfs", "type": "nfs", "server": "10.0.0.5", "export": "/srv/iso", "options": "vers=4.2"},
    {"name": "san", "type": "iscsi", "portal": "10.0.0.6", "target": "iqn.2003-01.org.example:t1"},
    {"name": "pbs", "type": "pbs", "server": "pbs", "datastore": "main", "username": "backup@pbs",
     "password": {"env": "PBS_PASSWORD"}, "fingerprint": FINGERPRINT, "content": ["backup"]},
    {"name": "local", "type": "dir", "path": "/var/lib/vz", "is_shared": False},
    {"name": "local-lvm", "type": "lvmthin", "vgname": "pve", "thinpool": "data"},
    {"name": "tank", "type": "zfspool", "pool": "rpool/data", "sparse": True, "nodes": ["pve02", "pve01", "pve01"]},
]


@pytest.mark.parametrize("data", VALID_STORAGE, ids=lambda d: str(d["type"]) + ":" + str(d["name"]))
def test_every_storage_type_accepts_a_typical_definition(data: dict[str, Any]) -> None:
    st = STORAGE.validate_python(data)
    assert st.type == data["type"] and st.name == data["name"]
    assert st.shared == (data["type"] in {"rbd", "cephfs", "nfs", "iscsi", "pbs"})


def test_storage_content_and_nodes_are_normalised() -> None:
    rbd = STORAGE.validate_python(VALID_STORAGE[0])
    assert rbd.content == ["images", "rootdir"]  # sorted, unique: order means nothing in storage.cfg
    zfs = STORAGE.validate_python(VALID_STORAGE[-1])
    assert zfs.nodes == ["pve01", "pve02"]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"name": "x", "type": "rbd"}, "pool"),
        ({"name": "x", "type": "nfs", "server": "s", "export": "srv/iso"}, "export"),
        ({"name": "x", "type": "iscsi", "portal": "p", "target": "t1"}, "target"),
        ({"name": "x", "type": "pbs", "server": "s", "datastore": "d", "username": "backup@pbs",
          "password": {"env": "P"}, "content": ["images"]}, "a PBS storage only holds content 'backup'"),
        ({"name": "x", "type": "pbs", "server": "s", "datastore": "d", "username": "backup",
          "password": {"env": "P"}}, "username"),
        ({"name": "x", "type": "pbs", "server": "s", "datastore": "d", "username": "b@pbs",
          "password": {"env": "P"}, "fingerprint": "ab:cd"}, "fingerprint"),
        ({"name": "x", "type": "dir", "path": "relative"}, "path"),
        ({"name": "x", "type": "lvmthin", "vgname": "pve"}, "thinpool"),
        ({"name": "x", "type": "zfspool"}, "pool"),
        ({"name": "1st", "type": "dir", "path": "/a"}, "name"),
        ({"name": "x", "type": "dir", "path": "/a", "content": ["disks"]}, "content"),
        ({"name": "x", "type": "dir", "path": "/a", "nodes": ["bad_name"]}, "'bad_name' is not a valid node name"),
        ({"name": "x", "type": "glusterfs"}, "does not match any of the expected tags"),
    ],
)
def test_storage_rejects(data: dict[str, Any], needle: str) -> None:
    assert needle in _error(STORAGE.validate_python, data)


# -- HA ---------------------------------------------------------------------
def test_ha_group_sorts_nodes_and_defaults() -> None:
    g = HaGroup.model_validate({"name": "web", "nodes": {"pve02": 1, "pve01": 2}})
    assert list(g.nodes) == ["pve01", "pve02"]
    assert (g.restricted, g.nofailback) == (False, False)


@pytest.mark.parametrize(
    ("nodes", "needle"),
    [({}, "at least one node is required"), ({"pve01": 1001}, "outside 0..1000"),
     ({"pve01": -1}, "outside 0..1000"), ({"bad_node": 1}, "'bad_node' is not a valid node name")],
)
def test_ha_group_rejects(nodes: dict[str, int], needle: str) -> None:
    assert needle in _error(HaGroup.model_validate, {"name": "web", "nodes": nodes})


def test_node_affinity_rule() -> None:
    r = NodeAffinityRule.model_validate({"type": "node-affinity", "name": "r", "resources": ["vm:101", "vm:100",
                                                                                           "vm:100"],
                                         "nodes": {"pve01": 1}, "strict": True})
    assert r.resources == ["vm:100", "vm:101"] and r.strict and not r.disable
    assert "at least 1 item" in _error(NodeAffinityRule.model_validate,
                                       {"type": "node-affinity", "name": "r", "resources": [], "nodes": {"a": 1}})
    assert "'vm:12' is not a resource id" in _error(
        NodeAffinityRule.model_validate, {"type": "node-affinity", "name": "r", "resources": ["vm:12"],
                                          "nodes": {"a": 1}})


def test_resource_affinity_rule() -> None:
    r = ResourceAffinityRule.model_validate({"type": "resource-affinity", "name": "apart",
                                             "resources": ["vm:101", "ct:200"], "affinity": "negative"})
    assert r.resources == ["ct:200", "vm:101"]
    assert "at least 2 items" in _error(ResourceAffinityRule.model_validate,
                                        {"type": "resource-affinity", "name": "a", "resources": ["vm:100"],
                                         "affinity": "positive"})
    assert "affinity" in _error(ResourceAffinityRule.model_validate,
                                {"type": "resource-affinity", "name": "a", "resources": ["vm:100", "vm:101"],
                                 "affinity": "together"})


def test_ha_resource_defaults_and_rejects() -> None:
    r = HaResource.model_validate({"sid": "ct:200"})
    assert (r.state, r.max_restart, r.max_relocate, r.failback, r.vmid) == ("started", 1, 1, True, 200)
    for bad in ({"sid": "vm:99"}, {"sid": "qemu:100"}, {"sid": "vm:100", "state": "running"},
                {"sid": "vm:100", "max_restart": -1}):
        _error(HaResource.model_validate, bad)


# -- secrets ---------------------------------------------------------------------
def test_secret_ref_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PVE_TEST_TOKEN", "  tok-123 \n")
    env = SecretRef.model_validate({"env": "PVE_TEST_TOKEN"})
    assert env.resolve() == "tok-123"
    f = tmp_path / "secret"
    f.write_text("s3cret\nsecond line\n", encoding="utf-8")
    ref = SecretRef.model_validate({"file": str(f)})
    assert ref.resolve() == "s3cret"
    assert str(env) == repr(env).removeprefix("SecretRef(").removesuffix(")") == "env:PVE_TEST_TOKEN"


def test_secret_ref_never_shows_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PVE_TEST_TOKEN", "tok-123")
    ref = SecretRef.model_validate({"env": "PVE_TEST_TOKEN"})
    assert "tok-123" not in f"{ref} {ref!r} {ref.describe()}"


@pytest.mark.parametrize("inline", ["root@pam!prov=0d9e-s3cr3t", 123456789, ["s3cr3t"]])
def test_inline_secret_is_rejected_without_echoing_it(inline: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        SecretRef.model_validate(inline)
    text = str(exc.value.errors(include_input=False)) + exc.value.errors(include_input=False)[0]["msg"]
    assert "an inline secret is not allowed" in text
    assert "s3cr3t" not in text and "123456789" not in text


@pytest.mark.parametrize(
    ("data", "needle"),
    [({}, "exactly one of 'env' or 'file'"), ({"env": "A", "file": "/x"}, "exactly one of 'env' or 'file'"),
     ({"env": "9LIVES"}, "env"), ({"value": "x"}, "Extra inputs")],
)
def test_secret_ref_rejects(data: dict[str, Any], needle: str) -> None:
    assert needle in _error(SecretRef.model_validate, data)


def test_secret_ref_resolve_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PVE_TEST_MISSING", raising=False)
    with pytest.raises(SecretUnavailableError, match="PVE_TEST_MISSING is not set"):
        SecretRef(env="PVE_TEST_MISSING").resolve()
    with pytest.raises(SecretUnavailableError, match="cannot read secret file"):
        SecretRef(file=tmp_path / "nope").resolve()
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(SecretUnavailableError, match="is empty"):
        SecretRef(file=empty).resolve()


# -- connection ---------------------------------------------------------------------
def test_connection_lab_or_api() -> None:
    assert Connection.model_validate({"lab": "default"}).api is None
    conn = Connection.model_validate({"api": {"url": "https://10.0.0.11:8006", "token": {"env": "PVE_TOKEN"},
                                              "fingerprint": FINGERPRINT}})
    assert isinstance(conn.api, ApiEndpoint) and conn.api.url.port == 8006 and conn.lab is None


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({}, "exactly one of 'lab' or 'api'"),
        ({"lab": "default", "api": {"url": "https://h:8006", "token": {"env": "T"}}}, "exactly one of"),
        ({"lab": "-bad"}, "lab"),
        ({"api": {"url": "not a url", "token": {"env": "T"}}}, "url"),
        ({"api": {"url": "https://h:8006", "token": "root@pam!t=s3cr3t"}}, "an inline secret is not allowed"),
        ({"api": {"url": "https://h:8006", "token": {"env": "T"}, "fingerprint": "AA:BB"}}, "fingerprint"),
        ({"api": {"url": "https://h:8006"}}, "token"),
    ],
)
def test_connection_rejects(data: dict[str, Any], needle: str) -> None:
    text = _error(Connection.model_validate, data)
    assert needle in text


# -- nodes, corosync, ceph, guests ------------------------------------------------------
def test_node_defaults() -> None:
    n = Node.model_validate({"name": "pve01", "nodeid": 1, "address": "10.0.0.11"})
    assert (n.votes, n.ssh.user, n.ssh.port, n.ssh_host, n.interfaces, n.capacity) == (
        1, "root", 22, "10.0.0.11", [], None)
    for bad in ({"nodeid": 0}, {"name": "pve_01"}, {"address": "10.0.0.11/24"}, {"votes": -1}):
        _error(Node.model_validate, {"name": "pve01", "nodeid": 1, "address": "10.0.0.11", **bad})


def test_corosync_and_qdevice() -> None:
    co = Corosync.model_validate({"links": [{"number": 0, "network": "10.0.0.0/24"}]})
    assert (co.transport, co.crypto_cipher, co.crypto_hash) == ("knet", "aes256", "sha256")
    assert co.link(0) is not None and co.link(1) is None
    assert "less than or equal to 7" in _error(CorosyncLink.model_validate, {"number": 8, "network": "10.0.0.0/24"})
    assert "at least 1 item" in _error(Corosync.model_validate, {"links": []})
    assert "network" in _error(CorosyncLink.model_validate, {"number": 0, "network": "10.0.0.1/24"})
    qd = QDevice.model_validate({"host": "10.0.0.5", "tie_breaker": 2})
    assert (qd.algorithm, qd.tie_breaker) == ("ffsplit", 2)
    _error(QDevice.model_validate, {"host": "q", "algorithm": "2nodes"})


def test_ceph_models() -> None:
    osd = Osd.model_validate({"node": "pve01", "device": "/dev/sdb", "db_device": "/dev/nvme0n1",
                              "db_size_gib": 60})
    assert osd.key == "pve01:/dev/sdb"
    assert "db_size_gib needs a db_device" in _error(Osd.model_validate,
                                                     {"node": "a", "device": "/dev/sdb", "db_size_gib": 1})
    assert "must differ from the OSD device" in _error(Osd.model_validate,
                                                       {"node": "a", "device": "/dev/sdb", "wal_device": "/dev/sdb"})
    assert "device" in _error(Osd.model_validate, {"node": "a", "device": "sdb"})
    pool = Pool.model_validate({"name": "vm-pool"})
    assert (pool.size, pool.min_size, pool.pg_autoscale_mode, pool.crush_rule) == (3, 2, "warn", "replicated_rule")
    assert "min_size 3 is larger than size 2" in _error(Pool.model_validate, {"name": "p", "size": 2, "min_size": 3})
    assert CephFs.model_validate({}).name == "cephfs"
    ceph = Ceph.model_validate({"public_network": "10.20.0.0/24", "osds": [{"node": "a", "device": "/dev/sdb"}]})
    assert ceph.osd_hosts() == {"a"} and ceph.cluster_network is None


def test_guest() -> None:
    g = Guest.model_validate({"sid": "vm:100", "node": "pve01"})
    assert (g.memory_mib, g.cores) == (0, 0)
    _error(Guest.model_validate, {"sid": "vm:100"})


MINIMAL: dict[str, Any] = {
    "name": "t",
    "pve_version": 8,
    "nodes": [
        {"name": "pve01", "nodeid": 1, "address": "10.0.0.11",
         "interfaces": [{"name": "eno1", "type": "nic", "address": "10.0.0.11/24"}]},
    ],
    "corosync": {"links": [{"number": 0, "network": "10.0.0.0/24"}]},
}


def test_cluster_normalises_link_addresses_and_implied_storage() -> None:
    data = {**MINIMAL, "ceph": {"public_network": "10.0.0.0/24", "pools": [{"name": "vm", "add_storage": True}]}}
    c = Cluster.model_validate(data)
    assert str(c.corosync.links[0].addresses["pve01"]) == "10.0.0.11"
    (rbd,) = c.storage
    assert (rbd.type, rbd.name, rbd.content) == ("rbd", "vm", ["images", "rootdir"])
    declared = {**data, "storage": [{"name": "vm", "type": "rbd", "pool": "vm", "krbd": True}]}
    assert [s.name for s in Cluster.model_validate(declared).storage] == ["vm"]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [({"name": "a-very-long-clustername"}, "name"), ({"pve_version": 7}, "pve_version"), ({"nodes": []}, "nodes"),
     ({"bogus": 1}, "Extra inputs")],
)
def test_cluster_rejects(extra: dict[str, Any], needle: str) -> None:
    assert needle in _error(Cluster.model_validate, {**MINIMAL, **extra})


@pytest.mark.parametrize("text", ["ceph.pool[vm-pool]", "ceph..pool", 'ceph.pool["x"]x', "Ceph"])
def test_bad_address_errors_show_the_expected_shape(text: str) -> None:
    with pytest.raises(ValueError, match=r'not an address: .* \(expected e\.g\. ceph\.pool\["vm-pool"\]\)'):
        Address.parse(text)
