"""The lab keeps parsed /etc/pve files and the cluster topology between requests
(provision.lab.parsecache, topology.load); whoever changes them, the next GET answers
with the change: an API call, a node CLI, a write through the /etc/pve mount (even one
that deletes a file and writes it anew), a node powered off."""

from __future__ import annotations

import pytest
from labkit import LabHandle


@pytest.fixture(scope="module")
def lab(lab_from_stack: LabHandle) -> LabHandle:
    """stacks/lab.yaml built in a lab of its own (`lab up --from`, seconds)."""
    return lab_from_stack


def _resource(lab: LabHandle, sid: str) -> dict[str, object]:
    one: dict[str, object] = lab.get(f"/cluster/ha/resources/{sid}")
    listed = {r["sid"]: r for r in lab.get("/cluster/ha/resources")}
    assert {k: v for k, v in listed[sid].items() if k != "digest"} == {k: v for k, v in one.items() if k != "digest"}
    return one


def test_an_api_write_is_seen_by_the_next_get(lab: LabHandle) -> None:
    assert _resource(lab, "vm:101").get("comment") is None
    lab.ok("PUT", "/cluster/ha/resources/vm:101", comment="first")
    assert _resource(lab, "vm:101")["comment"] == "first"
    lab.ok("PUT", "/cluster/ha/resources/vm:101", comment="second", max_restart="3")
    got = _resource(lab, "vm:101")
    assert got["comment"] == "second" and got["max_restart"] == 3
    lab.ok("DELETE", "/cluster/ha/resources/vm:101")
    assert lab.request("GET", "/cluster/ha/resources/vm:101").status_code == 500
    lab.ok("POST", "/cluster/ha/resources", sid="vm:101", group="web")
    assert _resource(lab, "vm:101").get("comment") is None


def test_a_node_cli_write_is_seen_by_the_next_get(lab: LabHandle) -> None:
    lab.node("pve02", "ha-manager", "set", "vm:102", "--comment", "from the cli")
    assert _resource(lab, "vm:102")["comment"] == "from the cli"
    lab.node("pve03", "pvesm", "set", "pbs-backup", "--disable", "1")
    assert lab.get("/storage/pbs-backup")["disable"] == 1


def test_a_file_written_through_etc_pve_is_read_as_written(lab: LabHandle) -> None:
    """A file deleted and written anew starts over at version 1 in pmxcfs's database; the
    lab keys its parses by the text, so the new text is what the next GET reads, and a
    text the lab's writer would lay out differently (spaces, another key order) too."""
    groups = lab.root / "nodes" / "pve01" / "root" / "etc" / "pve" / "ha" / "groups.cfg"
    before = groups.read_text()
    assert {g["group"] for g in lab.get("/cluster/ha/groups")} == {"web", "db"}
    groups.unlink()
    assert lab.get("/cluster/ha/groups") == []
    groups.write_text(before.replace("group: db", "group: dbx"))
    assert {g["group"] for g in lab.get("/cluster/ha/groups")} == {"web", "dbx"}
    groups.write_text("group: web\n    nodes pve02:5\n    restricted 1\n\n")
    web = lab.get("/cluster/ha/groups/web")
    assert web["nodes"] == "pve02:5" and web["restricted"] == 1
    groups.write_text(before)
    assert {g["group"] for g in lab.get("/cluster/ha/groups")} == {"web", "db"}


def test_a_powered_off_node_is_offline_at_the_next_get(lab: LabHandle) -> None:
    def online() -> dict[str, int]:
        return {e["name"]: e["online"] for e in lab.get("/cluster/status") if e["type"] == "node"}

    assert online() == {"pve01": 1, "pve02": 1, "pve03": 1}
    lab.lab("fail", "pve03")
    assert online() == {"pve01": 1, "pve02": 1, "pve03": 0}
    lab.lab("recover", "pve03")
    assert online() == {"pve01": 1, "pve02": 1, "pve03": 1}


def test_node_clis_share_a_parse_but_never_a_stale_one(lab: LabHandle) -> None:
    """Each node CLI is a process of its own; they keep the last parse of resources.cfg
    their writer produced on disk (`parsecache.persist_in`), keyed by the text's digest.
    A hand edit through /etc/pve in between is what the next CLI reads and rewrites."""
    lab.node("pve01", "ha-manager", "remove", "ct:200")
    lab.node("pve02", "ha-manager", "add", "ct:200", "--comment", "cli one")
    assert (lab.root / "parsecache" / "resources.cfg.marshal").exists()
    shown = lab.node("pve03", "ha-manager", "config").stdout
    assert "ct:200\n\tcomment cli one\n" in shown
    resources = lab.root / "nodes" / "pve01" / "root" / "etc" / "pve" / "ha" / "resources.cfg"
    resources.write_text(resources.read_text().replace("comment cli one", "comment by hand"))
    assert "ct:200\n\tcomment by hand\n" in lab.node("pve02", "ha-manager", "config").stdout
    lab.node("pve01", "ha-manager", "remove", "vm:100")
    lab.node("pve02", "ha-manager", "add", "vm:100", "--group", "web")
    shown = lab.node("pve03", "ha-manager", "config").stdout
    assert "ct:200\n\tcomment by hand\n" in shown and "vm:100\n\tgroup web\n" in shown
    assert _resource(lab, "ct:200")["comment"] == "by hand"
