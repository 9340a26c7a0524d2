"""PVE 9: groups are gone (migrated-to-rules errors), rules with their preconditions, failback."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from labkit import LabHandle


@pytest.fixture(scope="module")
def lab(lab9: LabHandle) -> LabHandle:
    lab9.make_cluster()
    return lab9


def pmxcfs_file(lab: LabHandle, path: str) -> str:
    with sqlite3.connect(lab.root / "pmxcfs.db") as db:
        row = db.execute("SELECT content FROM files WHERE path = ?", (path,)).fetchone()
    return str(row[0]) if row else ""


def services(lab: LabHandle) -> dict[str, dict[str, Any]]:
    return {s["sid"]: s for s in lab.get("/cluster/ha/status/current") if s["type"] == "service"}


def test_groups_have_been_migrated(lab: LabHandle) -> None:
    for method, path, params in (("GET", "/cluster/ha/groups", {}),
                                 ("POST", "/cluster/ha/groups", {"group": "g", "nodes": "pve01"}),
                                 ("GET", "/cluster/ha/groups/g", {})):
        r = lab.request(method, path, **params)
        assert r.status_code == 500, (method, path)
        assert r.json()["message"] == "ha groups have been migrated to rules\n"
    lab.ok("POST", "/cluster/ha/resources", sid="vm:100")
    grp = lab.request("POST", "/cluster/ha/resources", sid="vm:101", group="g")
    assert grp.status_code == 500
    assert grp.json()["message"] == "invalid parameter 'group': ha groups have been migrated to rules\n"


def test_rules_wait_for_group_migration(lab: LabHandle) -> None:
    assert [x["id"] for x in lab.get("/cluster/ha")] == ["status", "resources", "groups", "rules"]
    # a PVE 9 cluster whose groups.cfg still holds groups refuses rule changes
    groups = lab.root / "nodes/pve01/root/etc/pve/ha/groups.cfg"
    groups.parent.mkdir(parents=True, exist_ok=True)
    groups.write_text("group: old\n\tnodes pve01\n")
    try:
        r = lab.request("POST", "/cluster/ha/rules", type="node-affinity", rule="r0", resources="vm:100",
                        nodes="pve01")
        assert r.status_code == 500
        assert r.json()["message"] == "cannot create ha rule: ha groups have not been migrated yet\n"
        u = lab.request("PUT", "/cluster/ha/rules/r0", type="node-affinity", nodes="pve02")
        assert u.json()["message"] == "cannot update ha rule: ha groups have not been migrated yet\n"
    finally:
        groups.write_text("")
    assert lab.request("GET", "/cluster/ha/groups").json()["message"] == "ha groups have been migrated to rules\n"


def test_rule_preconditions_and_shapes(lab: LabHandle) -> None:
    unmanaged = lab.request("POST", "/cluster/ha/rules", type="node-affinity", rule="r1",
                            resources="vm:100,vm:101", nodes="pve02:2,pve03")
    assert unmanaged.status_code == 500
    assert unmanaged.json()["message"] == "create ha rule failed: cannot use unmanaged resource(s) vm:101.\n"
    lab.ok("POST", "/cluster/ha/resources", sid="vm:101", failback="0")
    lab.ok("POST", "/cluster/ha/resources", sid="vm:102")
    ghost = lab.request("POST", "/cluster/ha/rules", type="node-affinity", rule="r1", resources="vm:100",
                        nodes="pve09")
    assert ghost.status_code == 500 and "cannot use non-existant node(s) pve09." in ghost.json()["message"]
    missing = lab.request("POST", "/cluster/ha/rules", type="node-affinity", rule="r1", resources="vm:100")
    assert missing.status_code == 400 and "nodes" in missing.json()["errors"]
    lab.ok("POST", "/cluster/ha/rules", type="node-affinity", rule="prefer-pve02", resources="vm:101,vm:100",
           nodes="pve03,pve02:2")
    lab.ok("POST", "/cluster/ha/rules", type="node-affinity", rule="only-pve03", resources="vm:102",
           nodes="pve03", strict="1", comment="pinned")
    lab.ok("POST", "/cluster/ha/resources", sid="ct:200")
    lab.ok("POST", "/cluster/ha/rules", type="resource-affinity", rule="apart", resources="vm:102,ct:200",
           affinity="negative")
    tangled = lab.request("POST", "/cluster/ha/rules", type="resource-affinity", rule="tangled",
                          resources="vm:100,vm:102", affinity="negative")
    assert tangled.status_code == 400  # vm:100's node-affinity rule has several priorities
    assert "multiple priorities" in tangled.json()["errors"]["resources"]
    conflict = lab.request("POST", "/cluster/ha/rules", type="node-affinity", rule="again", resources="vm:100",
                           nodes="pve01")
    assert conflict.status_code == 400 and conflict.json()["message"] == "Rule 'again' is invalid.\n"
    assert "resources" in conflict.json()["errors"]
    rules = {r["rule"]: r for r in lab.get("/cluster/ha/rules")}
    assert set(rules) == {"prefer-pve02", "only-pve03", "apart"}
    r = rules["prefer-pve02"]
    assert r["resources"] == "vm:100,vm:101" and r["nodes"] == "pve02:2,pve03"
    assert r["strict"] == 0 and r["order"] == 1 and r["type"] == "node-affinity" and len(r["digest"]) == 40
    assert "errors" not in r and "disable" not in r
    assert rules["only-pve03"]["strict"] == 1 and rules["apart"]["affinity"] == "negative"
    assert [x["rule"] for x in lab.get("/cluster/ha/rules", type="resource-affinity")] == ["apart"]
    assert {x["rule"] for x in lab.get("/cluster/ha/rules", resource="vm:102")} == {"only-pve03", "apart"}
    text = pmxcfs_file(lab, "ha/rules.cfg")
    assert "node-affinity: prefer-pve02\n\tnodes pve02:2,pve03\n\tresources vm:100,vm:101\n" in text
    assert "node-affinity: only-pve03\n\tcomment pinned\n\tnodes pve03\n\tresources vm:102\n\tstrict 1\n" in text
    res = {x["sid"]: x for x in lab.get("/cluster/ha/resources")}
    assert res["vm:101"]["failback"] == 0 and "failback" not in res["vm:100"]


def test_placement_follows_rules(lab: LabHandle) -> None:
    lab.wait(lambda: all((services(lab).get(s) or {}).get("state") == "started"
                         and services(lab)[s]["node"] == n
                         for s, n in {"vm:100": "pve02", "vm:102": "pve03"}.items()), what="rule placement")
    # vm:101 has failback 0: it is on an allowed node (pve02) already and stays.
    assert services(lab)["vm:101"]["node"] == "pve02" and services(lab)["vm:101"]["failback"] == 0
    svc = services(lab)["vm:100"]  # defaults filled in, failback 1 on PVE 9
    assert (svc["failback"], svc["max_restart"], svc["max_relocate"], svc["request_state"]) == (1, 1, 1, "started")
    lab.lab("fail", "pve02")
    # the next priority class of its rule is pve03 (pve01 is only a priority -1 fallback)
    lab.wait(lambda: (services(lab)["vm:100"]["node"], services(lab)["vm:100"]["state"]) == ("pve03", "started"),
             what="vm:100 recovered to pve03")
    lab.lab("recover", "pve02")
    lab.wait(lambda: services(lab)["vm:100"]["node"] == "pve02", what="failback of vm:100")
    # vm:101 (failback 0) recovered elsewhere and stays there
    assert services(lab)["vm:101"]["node"] != "pve02"
    lab.lab("fail", "pve03")
    lab.wait(lambda: services(lab)["vm:102"]["state"] == "recovery", what="strict rule keeps vm:102 waiting")
    lab.lab("recover", "pve03")
    lab.wait(lambda: services(lab)["vm:102"]["state"] == "started", what="vm:102 back on pve03")


def test_delete_resource_purges_rules(lab: LabHandle) -> None:
    lab.ok("DELETE", "/cluster/ha/resources/vm:102")
    rules = {r["rule"]: r for r in lab.get("/cluster/ha/rules")}
    assert "only-pve03" not in rules  # left without resources: deleted
    assert rules["apart"]["resources"] == "ct:200"  # kept, but now ignored by the CRM
    assert "errors" in rules["apart"]
    assert "vm:102" not in services(lab)


def test_disable_is_a_bare_flag_that_only_delete_clears(lab: LabHandle) -> None:
    """pve-common SectionConfig writes a true `disable` as a bare line; API2/HA/Rules.pm
    drops a false `disable` before it writes, so `--disable 0` leaves the rule disabled
    and `--delete disable` enables it."""
    lab.node("pve01", "ha-manager", "rules", "set", "node-affinity", "prefer-pve02", "--disable", "1")
    assert "node-affinity: prefer-pve02\n\tdisable\n\tnodes" in pmxcfs_file(lab, "ha/rules.cfg")
    assert lab.get("/cluster/ha/rules/prefer-pve02")["disable"] == 1
    lab.node("pve01", "ha-manager", "rules", "set", "node-affinity", "prefer-pve02", "--disable", "0")
    assert lab.get("/cluster/ha/rules/prefer-pve02")["disable"] == 1
    lab.node("pve01", "ha-manager", "rules", "set", "node-affinity", "prefer-pve02", "--delete", "disable")
    assert "disable" not in lab.get("/cluster/ha/rules/prefer-pve02")
    assert "\tdisable" not in pmxcfs_file(lab, "ha/rules.cfg")


def test_migrate_onto_a_resource_kept_apart_is_refused(lab: LabHandle) -> None:
    """CLI/ha_manager.pm print_resource_motion_output dies (exit 255) naming the blocker;
    the command was queued all the same and the CRM refuses it (Manager.pm
    queue_resource_motion), so the resource stays where it is."""
    lab.node("pve01", "ha-manager", "add", "vm:102")
    lab.node("pve01", "ha-manager", "rules", "set", "resource-affinity", "apart", "--resources", "vm:102,ct:200")
    lab.wait(lambda: all((services(lab).get(s) or {}).get("state") == "started" for s in ("vm:102", "ct:200")),
             what="vm:102 and ct:200 started")
    home, partner = services(lab)["vm:102"]["node"], services(lab)["ct:200"]["node"]
    assert home != partner
    refused = lab.node("pve02", "ha-manager", "crm-command", "migrate", "vm:102", partner, check=False)
    assert refused.returncode == 255
    assert refused.stderr.startswith(f"cannot migrate resource 'vm:102' to node '{partner}':\n\n"
                                     f"- resource 'ct:200' on target node '{partner}' in negative affinity with "
                                     "resource 'vm:102'\n")
    alias = lab.node("pve02", "ha-manager", "relocate", "vm:102", partner, check=False)
    assert alias.returncode == 255 and "cannot relocate resource 'vm:102'" in alias.stderr
    reply = lab.ok("POST", "/cluster/ha/resources/vm:102/migrate", node=partner)
    assert reply["blocking-resources"] == [{"sid": "ct:200", "cause": "resource-affinity"}]
    def master_rounds() -> int:
        return int(next(e for e in lab.get("/cluster/ha/status/current") if e["type"] == "master")["timestamp"])

    seen = master_rounds()
    lab.wait(lambda: master_rounds() > seen + 1, what="two CRM rounds")
    assert (services(lab)["vm:102"]["node"], services(lab)["vm:102"]["state"]) == (home, "started")
    free = next(n for n in ("pve01", "pve02", "pve03") if n not in (home, partner))
    lab.node("pve02", "ha-manager", "crm-command", "migrate", "vm:102", free)
    lab.wait(lambda: services(lab)["vm:102"]["node"] == free and services(lab)["vm:102"]["state"] == "started",
             what=f"vm:102 migrated to {free}")
    assert services(lab)["ct:200"]["node"] == partner
