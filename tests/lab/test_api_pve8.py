"""REST API shapes (pve-facts §0-§1) on a PVE 8 lab, over real HTTPS; writes show up in GETs."""

from __future__ import annotations

import re

import proxmoxer
import pytest
from labkit import LabHandle

UPID = re.compile(r"^UPID:[a-z0-9]+:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:[a-z]+:[^:]*:[^:]+@[^:]+:$")


@pytest.fixture(scope="module")
def lab(lab8: LabHandle) -> LabHandle:
    return lab8


def _task_ok(lab: LabHandle, upid: str) -> None:
    assert UPID.match(upid), upid
    node = upid.split(":")[1]
    st = lab.get(f"/nodes/{node}/tasks/{upid}/status")
    assert st["status"] == "stopped" and st["exitstatus"] == "OK" and st["upid"] == upid
    assert isinstance(st["pid"], int) and isinstance(st["starttime"], int)


def test_auth_401_and_readonly_403(lab: LabHandle) -> None:
    url = lab.url + "/version"
    ca = lab.conn["ca_file"]
    assert lab.session.get(url, headers={"Authorization": ""}, verify=ca).status_code == 401
    bad = lab.token.rsplit("=", 1)[0] + "=00000000-0000-0000-0000-000000000000"
    r = lab.session.get(url, headers={"Authorization": f"PVEAPIToken={bad}"}, verify=ca)
    assert r.status_code == 401 and r.content == b""  # pveproxy: a bare 401, no JSON envelope
    ro = {"Authorization": f"PVEAPIToken={lab.ro_token}"}
    assert lab.session.get(url, headers=ro, verify=ca).status_code == 200
    w = lab.session.post(lab.url + "/storage", headers=ro, data={"storage": "x", "type": "dir", "path": "/x"},
                         verify=ca)
    assert w.status_code == 403 and w.json()["data"] is None and "Permission check failed" in w.json()["message"]
    assert lab.session.get(lab.url + "/nowhere", verify=ca).status_code == 501


def test_standalone_node_shapes(lab: LabHandle) -> None:
    assert lab.get("/version") == {"version": "8.4.1", "release": "8.4", "repoid": lab.get("/version")["repoid"]}
    status = lab.get("/cluster/status")
    assert status == [{"type": "node", "id": "node/pve01", "name": "pve01", "nodeid": 0, "ip": "192.168.10.11",
                       "local": 1, "online": 1, "level": ""}]
    r = lab.request("GET", "/cluster/config/join")
    assert r.status_code == 424 and r.json()["data"] is None
    assert lab.get("/cluster/config/qdevice") == {}
    assert [x["name"] for x in lab.get("/cluster/config")] == ["nodes", "totem", "join", "qdevice", "apiversion"]


def test_disks_guests_and_node_status(lab: LabHandle) -> None:
    disks = {d["devpath"]: d for d in lab.get("/nodes/pve02/disks/list", "pve02")}
    assert sorted(disks) == ["/dev/nvme0n1", "/dev/sda", *(f"/dev/sd{c}" for c in "bcdefgh")]
    assert "used" in disks["/dev/sda"] and "used" not in disks["/dev/sdb"]
    assert disks["/dev/sdb"]["size"] == 3_840_000_000_000 and isinstance(disks["/dev/sdb"]["size"], int)
    unused = {d["devpath"] for d in lab.get("/nodes/pve02/disks/list", "pve02", type="unused")}
    assert "/dev/sda" not in unused and "/dev/sdb" in unused
    qemu = lab.get("/nodes/pve02/qemu", "pve02")  # a standalone node answers for itself
    assert [(g["vmid"], g["name"], g["status"]) for g in qemu] == [(101, "vm101", "running")]
    assert qemu[0]["maxmem"] == 4096 * 1024 * 1024 and qemu[0]["cpus"] == 2
    assert [(g["vmid"], g["name"]) for g in lab.get("/nodes/pve01/lxc")] == [(200, "ct200")]
    st = lab.get("/nodes/pve03/status", "pve03")
    assert st["memory"]["total"] == 131072 * 1024 * 1024 and st["cpuinfo"]["cpus"] == 32
    assert st["pveversion"].startswith("pve-manager/8.4.1/")


def test_cluster_create_join_and_config_shapes(lab: LabHandle) -> None:
    upid = lab.ok("POST", "/cluster/config", as_node="pve01", clustername="prod", link0="192.168.10.11")
    _task_ok(lab, upid)
    again = lab.request("POST", "/cluster/config", as_node="pve01", clustername="prod")
    assert again.status_code == 500 and "already exists" in again.json()["message"]
    fp = lab.conn["fingerprint"]
    dup = lab.request("POST", "/cluster/config/join", as_node="pve02", hostname="pve01", fingerprint=fp,
                      password="x", link0="192.168.10.11")
    assert dup.status_code == 500
    msg = "corosync: address '192.168.10.11' already used on link ring0_addr by node 'pve01'\n"
    assert dup.json()["message"] == msg
    extra = lab.request("POST", "/cluster/config/join", as_node="pve02", hostname="pve01", fingerprint=fp,
                        password="x", link0="192.168.10.12", link1="10.1.0.12")
    assert "link 1 specified for new node doesn't exist" in extra.json()["message"]
    for i in (2, 3):
        _task_ok(lab, lab.ok("POST", "/cluster/config/join", as_node=f"pve0{i}", hostname="192.168.10.11",
                             fingerprint=fp, password="x", link0=f"192.168.10.1{i}"))
    status = lab.get("/cluster/status")
    cluster = status[0]
    assert cluster == {"type": "cluster", "id": "cluster", "name": "prod", "nodes": 3, "version": 3, "quorate": 1}
    nodes = {n["name"]: n for n in status[1:]}
    assert nodes["pve01"]["local"] == 1 and nodes["pve02"]["local"] == 0
    assert {n["nodeid"] for n in nodes.values()} == {1, 2, 3} and all(n["online"] == 1 for n in nodes.values())
    cfg = {n["node"]: n for n in lab.get("/cluster/config/nodes")}
    assert cfg["pve02"] == {"node": "pve02", "name": "pve02", "nodeid": "2", "quorum_votes": "1",
                            "ring0_addr": "192.168.10.12"}
    totem = lab.get("/cluster/config/totem")
    assert totem["cluster_name"] == "prod" and totem["config_version"] == "3"
    assert totem["interface"] == {"0": {"linknumber": "0"}}
    join = lab.get("/cluster/config/join")
    assert join["preferred_node"] == "pve01" and len(join["nodelist"]) == 3
    assert all(n["pve_fp"] == fp and "pve_addr" in n for n in join["nodelist"])
    assert isinstance(lab.get("/cluster/config/apiversion"), int)


def test_nodes_and_cluster_resources(lab: LabHandle) -> None:
    nodes = lab.get("/nodes")
    assert sorted(n["node"] for n in nodes) == ["pve01", "pve02", "pve03"]
    assert all(n["status"] == "online" and n["maxmem"] == 131072 * 1024**2 for n in nodes)
    res = lab.get("/cluster/resources")
    kinds = {r["type"] for r in res}
    assert kinds == {"node", "storage", "qemu", "lxc"}
    vms = lab.get("/cluster/resources", type="vm")
    assert sorted(r["id"] for r in vms) == ["lxc/200", "qemu/100", "qemu/101", "qemu/102"]
    assert all(isinstance(r["vmid"], int) and r["status"] == "running" for r in vms)
    storages = lab.get("/cluster/resources", type="storage")
    assert {r["id"] for r in storages} >= {"storage/pve01/local", "storage/pve03/local-lvm"}
    assert all(r["shared"] in (0, 1) for r in storages)


def test_storage_crud(lab: LabHandle) -> None:
    data = lab.ok("POST", "/storage", storage="backup", type="nfs", server="10.0.0.5", export="/srv/backup",
                  content="backup", nodes="pve01,pve02")
    assert data == {"storage": "backup", "type": "nfs"}
    s = lab.get("/storage/backup")
    assert s["shared"] == 1 and s["content"] == "backup" and s["nodes"] == "pve01,pve02"
    assert s["path"] == "/mnt/pve/backup" and len(s["digest"]) == 40
    dup = lab.request("POST", "/storage", storage="backup", type="dir", path="/x")
    assert dup.status_code == 500 and "already defined" in dup.json()["message"]
    missing = lab.request("POST", "/storage", storage="nfs2", type="nfs", server="1.2.3.4")
    assert missing.status_code == 400 and "export" in missing.json()["errors"]
    lab.ok("PUT", "/storage/backup", content="backup,iso", delete="nodes")
    s = lab.get("/storage/backup")
    assert s["content"] == "backup,iso" and "nodes" not in s
    fixed = lab.request("PUT", "/storage/backup", server="10.9.9.9")
    assert fixed.status_code == 500 and "fixed parameter" in fixed.json()["message"]
    assert {r["id"] for r in lab.get("/cluster/resources", type="storage")} >= {"storage/pve03/backup"}
    lab.ok("DELETE", "/storage/backup")
    assert "backup" not in {s["storage"] for s in lab.get("/storage")}


def test_local_storage_is_always_there(lab: LabHandle) -> None:
    # pve-storage's parse_config synthesises its default 'local' (first) when it is missing
    before = lab.get("/storage/local")
    lab.ok("DELETE", "/storage/local")
    try:
        listed = lab.get("/storage")
        assert listed[0]["storage"] == "local"
        local = lab.get("/storage/local")
        assert local["type"] == "dir" and local["path"] == "/var/lib/vz" and "shared" not in local
        assert local["content"] == "backup,images,iso,rootdir,snippets,vztmpl"
        assert local["prune-backups"] == "keep-all=1"
        assert "storage/pve02/local" in {r["id"] for r in lab.get("/cluster/resources", type="storage")}
        again = lab.request("POST", "/storage", storage="local", type="dir", path="/var/lib/vz")
        assert again.status_code == 500 and "already defined" in again.json()["message"]
    finally:
        lab.ok("PUT", "/storage/local", content=before["content"], delete="prune-backups")
    assert lab.get("/storage/local")["content"] == before["content"]


def test_network_stage_apply_revert(lab: LabHandle) -> None:
    base = lab.get("/nodes/pve02/network")
    by = {i["iface"]: i for i in base}
    assert "lo" not in by
    assert by["vmbr0"]["type"] == "bridge" and by["vmbr0"]["cidr"] == "192.168.10.12/24"
    assert by["vmbr0"]["netmask"] == "24" and by["vmbr0"]["bridge_ports"] == "eno1"
    assert by["eno2"]["exists"] == 1 and by["eno2"]["type"] == "eth"
    lab.ok("POST", "/nodes/pve02/network", iface="bond0", type="bond", slaves="eno3,eno4", bond_mode="802.3ad",
           bond_xmit_hash_policy="layer3+4", mtu="9000", autostart="1")
    lab.ok("POST", "/nodes/pve02/network", iface="vmbr1", type="bridge", bridge_ports="bond0",
           cidr="10.10.0.12/24", mtu="9000", autostart="1")
    r = lab.request("GET", "/nodes/pve02/network")
    body = r.json()
    assert "+auto bond0" in body["changes"] and "changes" in body
    staged = {i["iface"]: i for i in body["data"]}
    assert staged["bond0"]["slaves"] == "eno3 eno4" and staged["bond0"]["bond_mode"] == "802.3ad"
    assert staged["vmbr1"]["mtu"] == "9000" and staged["vmbr1"]["address"] == "10.10.0.12"
    root = lab.root / "nodes/pve02/root/etc/network"
    assert (root / "interfaces.new").exists() and "bond0" not in (root / "interfaces").read_text()
    gw = lab.request("POST", "/nodes/pve02/network", iface="vmbr2", type="bridge", cidr="10.20.0.2/24",
                     gateway="10.20.0.1")
    assert gw.status_code == 400 and "gateway" in gw.json()["errors"]
    bad = lab.request("POST", "/nodes/pve02/network", iface="bond1", type="bond", slaves="eno9")
    assert bad.status_code == 500 and "eno9" in bad.json()["message"]
    _task_ok(lab, lab.ok("PUT", "/nodes/pve02/network"))
    assert not (root / "interfaces.new").exists()
    text = (root / "interfaces").read_text()
    assert "bond-slaves eno3 eno4" in text and "bond-xmit-hash-policy layer3+4" in text
    assert "changes" not in lab.request("GET", "/nodes/pve02/network").json()
    assert lab.get("/nodes/pve02/network/bond0")["active"] == 1
    lab.ok("DELETE", "/nodes/pve02/network/vmbr1")
    assert (root / "interfaces.new").exists()
    lab.ok("DELETE", "/nodes/pve02/network")
    assert not (root / "interfaces.new").exists()
    assert "vmbr1" in {i["iface"] for i in lab.get("/nodes/pve02/network", type="bridge")}
    # raise_param_exc in PVE's Network.pm: 400 with the message under errors.iface
    for method in ("GET", "PUT", "DELETE"):
        missing = lab.request(method, "/nodes/pve02/network/vmbr77")
        assert missing.status_code == 400, method
        assert missing.json()["errors"] == {"iface": "interface does not exist"}
    dup = lab.request("POST", "/nodes/pve02/network", iface="vmbr1", type="bridge")
    assert dup.status_code == 400 and dup.json()["errors"] == {"iface": "interface already exists"}


def test_guest_stop_start_via_api(lab: LabHandle) -> None:
    _task_ok(lab, lab.ok("POST", "/nodes/pve03/qemu/102/status/stop"))
    assert lab.get("/nodes/pve03/qemu/102/status/current")["status"] == "stopped"
    _task_ok(lab, lab.ok("POST", "/nodes/pve03/qemu/102/status/start"))
    cur = lab.get("/nodes/pve03/qemu/102/status/current")
    assert cur["status"] == "running" and cur["ha"] == {"managed": 0}
    wrong = lab.request("POST", "/nodes/pve01/qemu/102/status/start")
    assert wrong.status_code == 500


def test_proxmoxer_with_token(lab: LabHandle) -> None:
    host, port = lab.url.split("//")[1].split("/")[0].split(":")
    user, rest = lab.token.split("!", 1)
    name, secret = rest.split("=", 1)
    px = proxmoxer.ProxmoxAPI(host, port=int(port), user=user, token_name=name, token_value=secret,
                              verify_ssl=lab.conn["ca_file"])
    assert px.version.get()["version"] == "8.4.1"
    assert len(px.nodes.get()) == 3
    px.storage.post(storage="px1", type="dir", path="/srv/px1", content="iso")
    assert px.storage("px1").get()["path"] == "/srv/px1"
    with pytest.raises(proxmoxer.ResourceException) as err:
        px.storage.post(storage="px1", type="dir", path="/srv/px1")
    assert err.value.status_code == 500
    px.storage("px1").delete()
