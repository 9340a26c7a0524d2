"""The node CLIs as Ansible runs them (PVE syntax, output, exit codes), and fail-once faults."""

from __future__ import annotations

import json

import pytest
from labkit import LabHandle


@pytest.fixture(scope="module")
def lab(lab8: LabHandle) -> LabHandle:
    return lab8


def test_pvecm_create_add_status_and_errors(lab: LabHandle) -> None:
    no = lab.node("pve01", "pvecm", "status", check=False)
    assert no.returncode != 0 and "does not exist" in no.stderr
    out = lab.node("pve01", "pvecm", "create", "prod", "-link0", "192.168.10.11").stdout
    assert "Writing corosync config to /etc/pve/corosync.conf" in out
    # lae's role: pvecm add <first-node-addr> -use_ssh -link0 <addr> (after root SSH trust)
    lab.trust_ssh("pve02", "pve01", "192.168.10.11")
    lab.trust_ssh("pve03", "pve01", "192.168.10.11")
    lab.node("pve02", "pvecm", "add", "192.168.10.11", "-use_ssh", "-link0", "192.168.10.12")
    dup = lab.node("pve03", "pvecm", "add", "192.168.10.11", "--use_ssh", "--link0", "192.168.10.12", check=False)
    assert dup.returncode == 255
    assert "address '192.168.10.12' already used on link ring0_addr by node 'pve02'" in dup.stderr
    lab.node("pve03", "pvecm", "add", "192.168.10.11", "--use_ssh", "--link0", "192.168.10.13")
    again = lab.node("pve03", "pvecm", "add", "192.168.10.11", "--use_ssh", check=False)
    assert again.returncode == 255 and "already in a cluster" in again.stderr
    status = lab.node("pve02", "pvecm", "status").stdout
    assert "Name:             prod" in status and "Config Version:   3" in status
    assert "Expected votes:   3" in status and "\nQuorum:           2  \n" in status
    assert "\nFlags:            Quorate \n" in status and "\n    Nodeid      Votes Name\n" in status
    assert "0x00000002          1 192.168.10.12 (local)" in status
    nodes = lab.node("pve01", "pvecm", "nodes").stdout
    assert "         1          1 pve01 (local)" in nodes
    lab.node("pve01", "pvecm", "expected", "1")
    assert "Expected votes:   1" in lab.node("pve01", "pvecm", "status").stdout


def test_pvesh_json_payload_only(lab: LabHandle) -> None:
    out = lab.node("pve03", "pvesh", "get", "/cluster/status", "--output-format", "json").stdout
    assert out.endswith("\n") and out.count("\n") == 1
    data = json.loads(out)
    assert isinstance(data, list) and data[0]["type"] == "cluster"
    assert out.strip() == json.dumps(data, sort_keys=True, separators=(",", ":"))
    assert next(e for e in data if e.get("local") == 1)["name"] == "pve03"  # acts as PVE_LAB_NODE
    lab.node("pve02", "pvesh", "create", "/storage", "--storage", "sh1", "--type", "dir", "--path", "/srv/sh1")
    lab.node("pve02", "pvesh", "set", "/storage/sh1", "-content", "iso")
    got = json.loads(lab.node("pve01", "pvesh", "get", "/storage/sh1", "--output-format", "json").stdout)
    assert got["content"] == "iso" and got["path"] == "/srv/sh1"
    bad = lab.node("pve01", "pvesh", "get", "/nope", check=False)
    assert bad.returncode == 255 and "not implemented" in bad.stderr
    lab.node("pve01", "pvesh", "delete", "/storage/sh1")


def test_ha_manager_pvesm_qm(lab: LabHandle) -> None:
    lab.node("pve01", "ha-manager", "groupadd", "g1", "--nodes", "pve01:2,pve02")
    lab.node("pve01", "ha-manager", "add", "vm:100", "--group", "g1", "--state", "started")
    lab.node("pve01", "ha-manager", "add", "ct:200", "--state", "stopped", "--comment", "dns")
    # the API records sorted by sid, their keys sorted (pve-ha-manager CLI/ha_manager.pm)
    cfg = lab.node("pve01", "ha-manager", "config").stdout
    assert cfg == "ct:200\n\tcomment dns\n\tstate stopped\n\nvm:100\n\tgroup g1\n\tstate started\n\n"
    assert lab.node("pve01", "ha-manager", "config", "--type", "vm").stdout.startswith("vm:100\n")
    assert lab.node("pve01", "ha-manager", "groupconfig").stdout == "group: g1\n\tnodes pve01:2,pve02\n\n"
    lab.node("pve01", "ha-manager", "remove", "ct:200")
    lab.wait(lambda: "service vm:100 (pve01, started)" in lab.node("pve01", "ha-manager", "status").stdout,
             what="vm:100 started")
    notimeout = lab.node("pve01", "ha-manager", "crm-command", "stop", "vm:100", check=False)
    assert notimeout.returncode == 255 and "timeout: property is missing" in notimeout.stderr
    status = lab.node("pve02", "ha-manager", "status").stdout.splitlines()
    assert status[0] == "quorum OK" and status[1].startswith("master pve01 (")
    lab.node("pve03", "pvesm", "add", "nfs", "bk", "--server", "10.0.0.5", "--export", "/bk", "--content",
             "backup")
    assert lab.get("/storage/bk")["server"] == "10.0.0.5"
    assert "bk " in lab.node("pve03", "pvesm", "status").stdout
    lab.node("pve03", "pvesm", "remove", "bk")
    listing = lab.node("pve02", "qm", "list").stdout
    assert "vm101" in listing and "running" in listing
    lab.node("pve02", "qm", "stop", "101")
    assert lab.get("/nodes/pve02/qemu/101/status/current")["status"] == "stopped"
    other = lab.node("pve02", "qm", "start", "102", check=False)
    assert other.returncode == 255
    lab.node("pve02", "qm", "start", "101")


def test_ifreload_applies_staged_file(lab: LabHandle) -> None:
    lab.ok("POST", "/nodes/pve01/network", iface="vmbr9", type="bridge", cidr="10.9.0.11/24", autostart="1")
    path = lab.root / "nodes/pve01/root/etc/network/interfaces"
    assert "vmbr9" not in path.read_text()
    lab.node("pve01", "ifreload", "-a")
    assert "vmbr9" in path.read_text() and not path.with_name("interfaces.new").exists()


def test_fail_once(lab: LabHandle) -> None:
    lab.lab("faults", "--fail-once", "pvesh create /storage")
    first = lab.node("pve01", "pvesh", "create", "/storage", "--storage", "fo", "--type", "dir", "--path", "/fo",
                     check=False)
    assert first.returncode != 0 and "injected fault" in first.stderr
    assert "fo" not in {s["storage"] for s in lab.get("/storage")}
    lab.node("pve01", "pvesh", "create", "/storage", "--storage", "fo", "--type", "dir", "--path", "/fo")
    assert "fo" in {s["storage"] for s in lab.get("/storage")}
    # an unrelated command is not consumed by a non-matching prefix
    lab.lab("faults", "--fail-once", "pveceph osd create")
    lab.node("pve01", "pvesh", "get", "/version")
    st = json.loads(lab.lab("status", "--json").stdout)
    assert st["faults"]["fail_once"] == ["pveceph osd create"]


def test_powered_off_node_is_unreachable(lab: LabHandle) -> None:
    lab.lab("fail", "pve03")
    try:
        p = lab.node("pve03", "pvesh", "get", "/version", check=False)
        assert p.returncode == 255 and "No route to host" in p.stderr
        r = lab.request("GET", "/nodes/pve03/status")
        assert r.status_code == 595
    finally:
        lab.lab("recover", "pve03")


def test_qdevice_lms_keeps_last_node_quorate(lab: LabHandle) -> None:
    lab.prepare_qdevice("10.0.0.99")
    odd = lab.node("pve01", "pvecm", "qdevice", "setup", "10.0.0.99", check=False)
    assert odd.returncode == 255 and "odd node count" in odd.stderr
    lab.node("pve01", "pvecm", "qdevice", "setup", "10.0.0.99", "--force")
    qd = lab.get("/cluster/config/qdevice")
    assert qd["Model"] == "Net" and qd["QNetd host"] == "10.0.0.99:5403" and qd["Algorithm"] == "LMS"
    status = lab.node("pve01", "pvecm", "status").stdout
    # corosync-quorumtool -siH: flags end in a space; Qdevice column and node-id-0 row
    assert "\nFlags:            Quorate Qdevice \n" in status
    assert "\n    Nodeid      Votes    Qdevice Name\n" in status
    assert "\n0x00000001          1    A,V,NMW 192.168.10.11 (local)\n" in status
    assert status.endswith("\n0x00000000          2            Qdevice\n")
    nodes = lab.node("pve01", "pvecm", "nodes").stdout
    assert "\n         1          1    A,V,NMW pve01 (local)\n" in nodes
    assert nodes.endswith("\n         0          2            Qdevice\n")
    assert "Expected votes:   5" in status
    lab.lab("fail", "pve02")
    lab.lab("fail", "pve03")
    try:  # last man standing: 1 node vote + 2 qdevice votes of 5
        assert lab.get("/cluster/status")[0]["quorate"] == 1
        lab.ok("POST", "/storage", storage="lms", type="dir", path="/lms")
    finally:
        lab.lab("recover", "pve02")
        lab.lab("recover", "pve03")
    lab.node("pve01", "pvecm", "qdevice", "remove")
    assert lab.get("/cluster/config/qdevice") == {}


def test_qdevice_status_is_the_local_daemon(lab: LabHandle) -> None:
    """GET /cluster/config/qdevice asks the answering node's corosync-qdevice socket: with
    the daemon stopped it is {} although corosync.conf still has the device."""
    if not lab.get("/cluster/config/qdevice"):
        lab.prepare_qdevice("10.0.0.99")
        lab.node("pve01", "pvecm", "qdevice", "setup", "10.0.0.99", "--force")
    lab.node("pve01", "systemctl", "stop", "corosync-qdevice")
    try:
        assert lab.node("pve01", "systemctl", "is-active", "corosync-qdevice", check=False).returncode == 3
        assert lab.ok("GET", "/cluster/config/qdevice", as_node="pve01") == {}
        assert lab.ok("GET", "/cluster/config/qdevice", as_node="pve02")["QNetd host"] == "10.0.0.99:5403"
        conf = (lab.root / "nodes/pve01/root/etc/pve/corosync.conf").read_text()
        assert "model: net" in conf and "host: 10.0.0.99" in conf
    finally:
        lab.node("pve01", "systemctl", "start", "corosync-qdevice")
    assert lab.ok("GET", "/cluster/config/qdevice", as_node="pve01")["Model"] == "Net"
