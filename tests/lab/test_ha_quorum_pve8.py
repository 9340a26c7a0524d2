"""HA (PVE 8 groups) recovery, failback and quorum loss, decided by ``provision.crm``."""

from __future__ import annotations

import time
from typing import Any

import pytest
from labkit import LabHandle

from provision.crm.model import Group, HAConfig, NodeInfo, Service
from provision.crm.placement import recover


@pytest.fixture(scope="module")
def lab(lab8: LabHandle) -> LabHandle:
    lab8.make_cluster()
    return lab8


def services(lab: LabHandle) -> dict[str, dict[str, Any]]:
    return {s["sid"]: s for s in lab.get("/cluster/ha/status/current") if s["type"] == "service"}


def settled(lab: LabHandle, want: dict[str, tuple[str, str]]) -> bool:
    cur = services(lab)
    return all(sid in cur and (cur[sid].get("node"), cur[sid]["state"]) == v for sid, v in want.items())


def test_groups_and_resources_shapes(lab: LabHandle) -> None:
    lab.ok("POST", "/cluster/ha/groups", group="prefer2", nodes="pve02:2,pve03:1")
    lab.ok("POST", "/cluster/ha/groups", group="only3", nodes="pve03", restricted="1", comment="pinned")
    groups = {g["group"]: g for g in lab.get("/cluster/ha/groups")}
    assert groups["only3"]["restricted"] == 1 and groups["only3"]["comment"] == "pinned"
    assert groups["only3"]["type"] == "group" and "nofailback" not in groups["only3"]
    assert groups["prefer2"]["nodes"] == "pve02:2,pve03:1" and "restricted" not in groups["prefer2"]
    text = (lab.get("/cluster/ha/groups/only3"))
    assert text["nodes"] == "pve03"
    lab.ok("POST", "/cluster/ha/resources", sid="vm:100", group="prefer2", max_restart="2")
    lab.ok("POST", "/cluster/ha/resources", sid="101")
    lab.ok("POST", "/cluster/ha/resources", sid="vm:102", group="only3", comment="db")
    dup = lab.request("POST", "/cluster/ha/resources", sid="vm:100")
    assert dup.status_code == 500 and "resource ID 'vm:100' already defined" in dup.json()["message"]
    nog = lab.request("POST", "/cluster/ha/resources", sid="vm:999")
    assert nog.status_code == 500 and nog.json()["message"] == "resource 'vm:999' does not exist in cluster\n"
    kind = lab.request("POST", "/cluster/ha/resources", sid="ct:101")  # 101 is a VM (PVECT.pm exists)
    assert kind.status_code == 500
    assert kind.json()["message"] == "resource 'ct:101' - guest with ID 101 is not a container\n"
    bare = lab.request("POST", "/cluster/ha/resources", sid="999")
    assert bare.json()["message"] == "unable do detect SID from VMID - VM/CT 999 does not exist\n"
    res = {r["sid"]: r for r in lab.get("/cluster/ha/resources")}
    assert res["vm:100"] == {"sid": "vm:100", "type": "vm", "group": "prefer2", "max_restart": 2,
                             "digest": res["vm:100"]["digest"]}
    assert "state" not in res["vm:101"] and res["vm:102"]["comment"] == "db"
    assert lab.get("/cluster/ha/resources", type="ct") == []
    gone = lab.request("DELETE", "/cluster/ha/resources/ct:200")
    assert gone.status_code == 500 and gone.json()["message"] == "cannot delete service 'ct:200', not HA managed!\n"
    stray = lab.request("POST", "/cluster/ha/resources/ct:200/migrate", node="pve02")
    assert stray.status_code == 500 and stray.json()["message"] == "resource 'ct:200' is not HA managed\n"
    used = lab.request("DELETE", "/cluster/ha/groups/only3")
    assert used.status_code == 500 and "vm:102" in used.json()["message"]
    assert [x["id"] for x in lab.get("/cluster/ha")] == ["status", "resources", "groups"]
    rules = lab.request("GET", "/cluster/ha/rules")
    assert rules.status_code == 501


def test_crm_places_services_by_group_priority(lab: LabHandle) -> None:
    # vm:100 starts on pve01 but its group prefers pve02: the CRM migrates it there.
    lab.wait(lambda: settled(lab, {"vm:100": ("pve02", "started"), "vm:101": ("pve02", "started"),
                                   "vm:102": ("pve03", "started")}), what="initial placement")
    cur = lab.get("/cluster/ha/status/current")
    assert cur[0] == {"id": "quorum", "type": "quorum", "node": "pve01", "status": "OK", "quorate": 1}
    assert cur[1]["type"] == "master" and cur[1]["node"] == "pve01" and "active" in cur[1]["status"]
    lrms = [e for e in cur if e["type"] == "lrm"]
    assert [e["node"] for e in lrms] == ["pve01", "pve02", "pve03"]
    svc = services(lab)["vm:100"]
    assert svc["status"] == "vm:100 (pve02, started)" and svc["request_state"] == "started"
    assert svc["group"] == "prefer2" and svc["max_restart"] == 2 and svc["crm_state"] == "started"
    # read_and_check_resources_config fills in defaults; PVE 8 has no failback
    assert svc["max_relocate"] == 1 and "failback" not in svc
    plain = services(lab)["vm:101"]
    assert (plain["request_state"], plain["max_restart"], plain["max_relocate"]) == ("started", 1, 1)
    vm = {r["vmid"]: r for r in lab.get("/cluster/resources", type="vm")}
    assert vm[100]["node"] == "pve02" and vm[100]["hastate"] == "started" and "hastate" not in vm[200]
    ms = lab.get("/cluster/ha/status/manager_status")
    assert ms["manager_status"]["master_node"] == "pve01"
    assert ms["manager_status"]["node_status"] == {"pve01": "online", "pve02": "online", "pve03": "online"}
    assert ms["manager_status"]["service_status"]["vm:100"]["node"] == "pve02"
    assert ms["quorum"] == {"node": "pve01", "quorate": 1}


def test_recovery_after_node_failure_matches_crm(lab: LabHandle) -> None:
    lab.lab("fail", "pve02")
    # what provision.crm decides for the same situation
    config = HAConfig(groups=(Group("prefer2", {"pve02": 2, "pve03": 1}), Group("only3", {"pve03": 0}, True)))
    svcs = [Service("vm:100", "pve02", group="prefer2"), Service("vm:101", "pve02"),
            Service("vm:102", "pve03", group="only3")]
    nodes = [NodeInfo("pve01", True), NodeInfo("pve02", False), NodeInfo("pve03", True)]
    expected = recover(svcs, nodes, config).placements
    assert expected["vm:100"] == "pve03"  # group priority: next member
    lab.wait(lambda: settled(lab, {sid: (node, "started") for sid, node in expected.items()}), what="recovery")
    ms = lab.get("/cluster/ha/status/manager_status")["manager_status"]
    assert ms["node_status"]["pve02"] == "unknown"
    vm = {r["vmid"]: r for r in lab.get("/cluster/resources", type="vm")}
    assert vm[100]["node"] == "pve03" and vm[100]["status"] == "running"


def test_failback_when_node_returns(lab: LabHandle) -> None:
    lab.lab("recover", "pve02")
    lab.wait(lambda: settled(lab, {"vm:100": ("pve02", "started")}), what="failback to pve02")
    assert lab.get("/nodes/pve02/qemu/100/status/current")["status"] == "running"


def test_restricted_group_without_members_stays_in_recovery(lab: LabHandle) -> None:
    lab.lab("fail", "pve03")
    lab.wait(lambda: services(lab)["vm:102"]["state"] == "recovery", what="vm:102 in recovery")
    assert services(lab)["vm:102"]["node"] == "pve03"
    lab.lab("recover", "pve03")
    lab.wait(lambda: settled(lab, {"vm:102": ("pve03", "started")}), what="vm:102 back")


def test_quorum_loss_blocks_writes_and_moves_nothing(lab: LabHandle) -> None:
    lab.lab("fail", "pve01")
    lab.lab("fail", "pve03")
    try:
        r = lab.request("POST", "/storage", as_node="pve02", storage="nq", type="dir", path="/nq")
        assert r.status_code == 500 and r.json()["message"] == "cluster not ready - no quorum?\n"
        cur = lab.get("/cluster/ha/status/current")
        assert cur[0]["quorate"] == 0 and cur[0]["status"] == "No quorum on node 'pve02'!"
        status = lab.get("/cluster/status")
        assert status[0]["quorate"] == 0
        assert [n["online"] for n in status[1:]] == [0, 1, 0]
        ha = lab.request("POST", "/cluster/ha/resources", sid="ct:200")
        assert ha.status_code == 500 and "no quorum" in ha.json()["message"]
        before = {sid: s.get("node") for sid, s in services(lab).items()}
        time.sleep(4.0)  # longer than the scaled fencing delay (180 s x 0.02)
        after = services(lab)
        assert {sid: s.get("node") for sid, s in after.items()} == before
        assert all(s["state"] != "recovery" for s in after.values())
        assert lab.get("/nodes/pve02/network")  # node-local reads and writes still work
    finally:
        lab.lab("recover", "pve01")
        lab.lab("recover", "pve03")
    lab.ok("POST", "/storage", storage="nq", type="dir", path="/nq")


def test_partition_minority_loses_quorum(lab: LabHandle) -> None:
    lab.lab("partition", "pve01,pve02", "pve03")
    try:
        minority = lab.request("POST", "/storage", as_node="pve03", storage="p3", type="dir", path="/p3")
        assert minority.status_code == 500 and "no quorum" in minority.json()["message"]
        lab.ok("POST", "/storage", as_node="pve01", storage="p1", type="dir", path="/p1")
        st = {n["name"]: n["online"] for n in lab.get("/cluster/status")[1:]}
        assert st == {"pve01": 1, "pve02": 1, "pve03": 0}
    finally:
        lab.lab("heal")
    lab.ok("POST", "/storage", as_node="pve03", storage="p3", type="dir", path="/p3")


def test_link_down_on_every_link_isolates_node(lab: LabHandle) -> None:
    lab.lab("link-down", "pve03", "0")
    try:
        r = lab.request("POST", "/storage", as_node="pve03", storage="l3", type="dir", path="/l3")
        assert r.status_code == 500 and "no quorum" in r.json()["message"]
    finally:
        lab.lab("link-up", "pve03", "0")
    lab.ok("POST", "/storage", as_node="pve03", storage="l3", type="dir", path="/l3")
