"""Ceph through the API and pveceph/ceph/systemctl: preconditions, messages, shapes, health."""

from __future__ import annotations

import json
import sqlite3

import pytest
from labkit import LabHandle


@pytest.fixture(scope="module")
def lab(lab9: LabHandle) -> LabHandle:
    lab9.make_cluster()
    return lab9


def health(lab: LabHandle) -> tuple[str, set[str]]:
    h = lab.get("/nodes/pve01/ceph/status")["health"]
    return h["status"], set(h["checks"])


def test_ceph_must_be_installed_first(lab: LabHandle) -> None:
    """A fresh node has no Ceph: init and the daemons refuse until `pveceph install`."""
    p = lab.node("pve01", "pveceph", "init", "--network", "192.168.10.0/24", check=False)
    assert p.returncode != 0 and "please run 'pveceph install'" in p.stderr
    r = lab.request("POST", "/nodes/pve01/ceph/init", network="192.168.10.0/24")
    assert r.status_code == 500 and "please run 'pveceph install'" in r.json()["message"]
    r = lab.request("POST", "/nodes/pve01/ceph/mon/pve01")
    assert r.status_code == 500 and r.json()["message"].strip() == "binary not installed: /usr/bin/ceph-mon"
    assert "ceph" not in {p["Package"] for p in lab.get("/nodes/pve01/apt/versions")}
    bad = lab.node("pve01", "pveceph", "install", "--version", "reef", check=False)  # PVE 8 only
    assert bad.returncode != 0 and "version: value 'reef' does not have a value in the enumeration" in bad.stderr
    for node in lab.conn["nodes"]:
        lab.node(node, "pveceph", "install", "--version", "squid", "--repository", "no-subscription")
    sources = (lab.root / "nodes" / "pve02" / "root" / "etc" / "apt" / "sources.list.d" / "ceph.sources").read_text()
    assert "URIs: http://download.proxmox.com/debian/ceph-squid" in sources and "Components: no-subscription" in sources
    ceph = next(p for p in lab.get("/nodes/pve03/apt/versions") if p["Package"] == "ceph")
    assert ceph["CurrentState"] == "Installed" and ceph["OldVersion"].startswith("19.2.")


def test_preconditions_before_init(lab: LabHandle) -> None:
    r = lab.request("POST", "/nodes/pve01/ceph/mon/pve01")
    assert r.status_code == 500 and "not initialized" in r.json()["message"]
    p = lab.node("pve01", "pveceph", "mon", "create", check=False)
    assert p.returncode != 0 and "not initialized" in p.stderr
    c = lab.node("pve01", "ceph", "-s", check=False)
    assert c.returncode == 1 and "Error initializing cluster client" in c.stderr
    raw = lab.request("GET", "/nodes/pve01/ceph/cfg/raw")
    assert raw.status_code == 500 and "not initialized" in raw.json()["message"]


def test_init_and_monitors(lab: LabHandle) -> None:
    lab.node("pve01", "pveceph", "init", "--network", "192.168.10.0/24", "--size", "3")
    with sqlite3.connect(lab.root / "pmxcfs.db") as db:
        conf = db.execute("SELECT content FROM files WHERE path = 'ceph.conf'").fetchone()[0]
    assert "public_network = 192.168.10.0/24" in conf and "osd_pool_default_min_size = 2" in conf
    assert "keyring = /etc/pve/priv/$cluster.$name.keyring" in conf
    assert lab.get("/nodes/pve02/ceph/cfg/raw") == conf  # the same file, as one string
    lab.node("pve01", "pveceph", "mon", "create")
    mgrs = lab.get("/nodes/pve01/ceph/mgr")
    assert [(m["name"], m["state"]) for m in mgrs] == [("pve01", "active")]  # first MON brings a MGR
    dup = lab.node("pve01", "pveceph", "mon", "create", check=False)
    assert dup.returncode == 255 and "monitor 'pve01' already exists" in dup.stderr
    for n in ("pve02", "pve03"):
        lab.node(n, "pveceph", "mon", "create")
    assert len(lab.get("/nodes/pve01/ceph/mgr")) == 1  # later MONs do not
    lab.node("pve02", "pveceph", "mgr", "create")
    assert {(m["name"], m["state"]) for m in lab.get("/nodes/pve03/ceph/mgr")} == {("pve01", "active"),
                                                                                   ("pve02", "standby")}
    mons = lab.get("/nodes/pve01/ceph/mon")
    assert [m["name"] for m in mons] == ["pve01", "pve02", "pve03"]
    m1 = mons[0]
    assert m1["host"] == "pve01" and m1["quorum"] == 1 and m1["state"] == "running"
    assert m1["addr"].startswith("192.168.10.11") and isinstance(m1["rank"], int)
    assert health(lab) == ("HEALTH_WARN", {"TOO_FEW_OSDS"})


def test_osds(lab: LabHandle) -> None:
    used = lab.node("pve01", "pveceph", "osd", "create", "/dev/sda", check=False)
    assert used.returncode == 255 and "device '/dev/sda' is already in use" in used.stderr
    ghost = lab.request("POST", "/nodes/pve01/ceph/osd", dev="/dev/sdz")
    assert ghost.status_code == 500 and "unable to get device info for '/dev/sdz'" in ghost.json()["message"]
    typo = lab.node("pve01", "pveceph", "osd", "create", "/dev/sdb", "--crush_device_class", "ssd", check=False)
    assert typo.returncode == 255 and "crush_device_class: property is not defined in schema" in typo.stderr
    for n in ("pve01", "pve02", "pve03"):
        lab.node(n, "pveceph", "osd", "create", "/dev/sdb", "-crush-device-class", "ssd")
    upid = lab.ok("POST", "/nodes/pve03/ceph/osd", dev="/dev/sdc")
    assert upid.split(":")[5] == "cephcreateosd"
    again = lab.request("POST", "/nodes/pve03/ceph/osd", dev="/dev/sdc")
    assert again.status_code == 500 and "already in use" in again.json()["message"]
    disk = {d["devpath"]: d for d in lab.get("/nodes/pve03/disks/list")}
    assert disk["/dev/sdc"]["osdid"] == 3 and disk["/dev/sdc"]["used"] == "LVM"
    tree = lab.get("/nodes/pve01/ceph/osd")
    root = tree["root"]["children"][0]
    assert root["name"] == "default" and root["type"] == "root"
    hosts = {h["name"]: h for h in root["children"]}
    assert set(hosts) == {"pve01", "pve02", "pve03"} and all(h["type"] == "host" for h in hosts.values())
    osd0 = hosts["pve01"]["children"][0]
    assert osd0["name"] == "osd.0" and osd0["leaf"] == 1 and osd0["status"] == "up" and osd0["in"] == 1
    assert osd0["device_class"] == "ssd" and isinstance(tree["flags"], str)
    assert health(lab) == ("HEALTH_OK", set())


def test_osd_destroy_needs_out_and_down(lab: LabHandle) -> None:
    inuse = lab.node("pve03", "pveceph", "osd", "destroy", "3", check=False)
    assert inuse.returncode == 255 and "osd is in use (in == 1)" in inuse.stderr
    lab.node("pve03", "ceph", "osd", "out", "3")
    running = lab.request("DELETE", "/nodes/pve03/ceph/osd/3")
    assert running.status_code == 500 and running.json()["message"] == "osd is still running (up == 1)\n"
    other = lab.request("DELETE", "/nodes/pve01/ceph/osd/3")
    assert "does not belong to node pve01" in other.json()["message"]
    lab.node("pve03", "systemctl", "stop", "ceph-osd@3")
    assert lab.node("pve03", "systemctl", "is-active", "ceph-osd@3", check=False).returncode == 3
    assert "OSD_DOWN" in health(lab)[1]
    lab.node("pve03", "pveceph", "osd", "destroy", "3", "--cleanup", "1")
    disk = {d["devpath"]: d for d in lab.get("/nodes/pve03/disks/list")}
    assert "used" not in disk["/dev/sdc"]
    assert health(lab) == ("HEALTH_OK", set())


def test_pools_and_storage(lab: LabHandle) -> None:
    big = lab.request("POST", "/nodes/pve01/ceph/pool", name="p", size="8")
    assert big.status_code == 400 and "size" in big.json()["errors"]
    inverted = lab.request("POST", "/nodes/pve01/ceph/pool", name="p", size="2", min_size="3")
    assert inverted.status_code == 200  # a worker task, which fails (test_ceph_workers.py)
    upid = inverted.json()["data"]
    assert lab.get(f"/nodes/pve01/tasks/{upid}/status")["exitstatus"] != "OK"
    # PVE's schemas allow no extra properties: the upstream spelling is the only one accepted
    for wrong in (("--add-storages", "1"), ("--pg-autoscale-mode", "on"), ("--min-size", "2"),
                  ("--crush-rule", "replicated_rule")):
        bad = lab.node("pve01", "pveceph", "pool", "create", "typo", *wrong, check=False)
        name = wrong[0].lstrip("-")
        assert bad.returncode == 255 and bad.stderr.startswith("400 Parameter verification failed.\n"), wrong
        assert f"{name}: property is not defined in schema and the schema does not allow additional properties" \
            in bad.stderr
    api = lab.request("POST", "/nodes/pve01/ceph/pool", name="typo", **{"add-storages": "1"})
    assert api.status_code == 400 and "add-storages" in api.json()["errors"]
    assert "typo" not in {x["pool_name"] for x in lab.get("/nodes/pve01/ceph/pool")}
    lab.node("pve01", "pveceph", "pool", "create", "vm-pool", "--add_storages", "1", "--pg_num", "64")
    pools = {p["pool_name"]: p for p in lab.get("/nodes/pve02/ceph/pool")}
    p = pools["vm-pool"]
    assert (p["size"], p["min_size"], p["pg_num"], p["pg_autoscale_mode"]) == (3, 2, 64, "warn")
    assert p["crush_rule_name"] == "replicated_rule" and p["type"] == "replicated"
    assert p["application_metadata"] == {"rbd": {}} and isinstance(p["pool"], int)
    st = lab.get("/storage/vm-pool")
    assert st["type"] == "rbd" and st["pool"] == "vm-pool" and st["krbd"] == 0 and st["shared"] == 1
    assert st["content"] in ("rootdir,images", "images,rootdir")
    out = lab.node("pve02", "pveceph", "pool", "ls", "--output-format", "json").stdout
    assert [x["pool_name"] for x in json.loads(out)] == ["vm-pool"]
    assert lab.node("pve02", "ceph", "osd", "pool", "ls").stdout.split() == ["vm-pool"]
    lab.ok("PUT", "/nodes/pve01/ceph/pool/vm-pool", min_size="1")
    assert lab.get("/nodes/pve01/ceph/pool/vm-pool")["min_size"] == 1
    busy = lab.request("DELETE", "/nodes/pve01/ceph/pool/vm-pool")
    assert busy.status_code == 200
    assert "storage 'vm-pool'" in lab.get(f"/nodes/pve01/tasks/{busy.json()['data']}/status")["exitstatus"]
    assert "vm-pool" in {x["pool_name"] for x in lab.get("/nodes/pve01/ceph/pool")}
    assert lab.get("/nodes/pve01/ceph/rules") == [{"name": "replicated_rule"}]


def test_cephfs_needs_mds(lab: LabHandle) -> None:
    no_mds = lab.request("POST", "/nodes/pve01/ceph/fs/cephfs")
    assert no_mds.status_code == 500 and "MDS" in no_mds.json()["message"]
    lab.node("pve01", "pveceph", "mds", "create")
    lab.wait(lambda: any(m["state"] == "up:standby" for m in lab.get("/nodes/pve01/ceph/mds")), 30, "a standby MDS")
    bad = lab.node("pve01", "pveceph", "fs", "create", "--name", "cephfs", "--add_storage", "1", check=False)
    assert bad.returncode == 255 and "add_storage: property is not defined in schema" in bad.stderr
    lab.node("pve01", "pveceph", "fs", "create", "--name", "cephfs", "--add-storage", "1", "--pg_num", "32")
    assert lab.get("/nodes/pve01/ceph/fs") == [{"name": "cephfs", "metadata_pool": "cephfs_metadata",
                                                "data_pool": "cephfs_data"}]
    fs = json.loads(lab.node("pve02", "ceph", "fs", "ls", "-f", "json").stdout)
    assert fs == [{"name": "cephfs", "metadata_pool": "cephfs_metadata", "data_pools": ["cephfs_data"]}]
    pools = {p["pool_name"]: p for p in lab.get("/nodes/pve01/ceph/pool")}
    assert pools["cephfs_data"]["pg_num"] == 32 and pools["cephfs_metadata"]["pg_num"] == 8
    assert lab.get("/storage/cephfs")["type"] == "cephfs"
    mds = lab.get("/nodes/pve01/ceph/mds")
    assert mds[0]["name"] == "pve01" and mds[0]["state"] == "up:active"


def test_health_follows_failures(lab: LabHandle) -> None:
    lab.lab("fail", "pve03")
    try:
        status, checks = health(lab)
        assert status == "HEALTH_WARN"
        assert {"MON_DOWN", "OSD_DOWN", "OSD_HOST_DOWN", "PG_DEGRADED"} <= checks
        lab.lab("fail", "pve02")
        r = lab.request("GET", "/nodes/pve01/ceph/status")
        assert r.status_code == 500 and r.json()["message"] == "got timeout\n"  # no MON quorum
        st = json.loads(lab.lab("status", "--json").stdout)
        assert st["ceph"]["status"] == "HEALTH_ERR"
    finally:
        lab.lab("recover", "pve02")
        lab.lab("recover", "pve03")
    assert health(lab)[0] == "HEALTH_OK"


def test_last_monitor_cannot_be_removed(lab: LabHandle) -> None:
    lab.node("pve03", "pveceph", "mon", "destroy", "pve03")
    lab.node("pve02", "pveceph", "mon", "destroy", "pve02")
    last = lab.request("DELETE", "/nodes/pve01/ceph/mon/pve01")
    assert last.status_code == 500 and last.json()["message"] == "can't remove last monitor\n"
    assert [m["name"] for m in lab.get("/nodes/pve01/ceph/mon")] == ["pve01"]
