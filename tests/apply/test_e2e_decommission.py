"""Issue 14 item 6 and issue 11 item 9: decommissioning a node in one plan. The plan
removes pve04 from a 4-node cluster: its OSD and MON are destroyed *on pve04* (so apply's
inventory must still hold it, though the stack no longer does), then pve04 is powered off
through the API and only then `pvecm delnode` runs (pvecm.adoc "Remove a Cluster Node"; a node
removed while running keeps its old configuration, tests/lab/test_delnode.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_lab import Lab, start, stop
from ruamel.yaml import YAML

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

STACKS = Path(__file__).parent / "stacks"


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("work")
    for name in ("decommission-4.yaml", "decommission-3.yaml"):
        (work / name).write_text((STACKS / name).read_text())
    lab = start(tmp_path_factory.mktemp("home"), work, "--from", str(work / "decommission-4.yaml"))
    try:
        yield lab
    finally:
        stop(lab)


def _status(lab: Lab) -> dict[str, dict[str, object]]:
    p = lab.node_cli("pve01", "pvesh", "get", "/cluster/status", "--output-format", "json")
    assert p.returncode == 0, p.stderr
    return {str(e["name"]): e for e in json.loads(p.stdout) if e["type"] == "node"}


def test_a_node_with_guests_is_not_removed(four: Lab) -> None:
    yaml = YAML()
    doc = yaml.load((four.work / "decommission-4.yaml").read_text())
    doc["nodes"] = [n for n in doc["nodes"] if n["name"] != "pve02"]
    doc["ceph"]["mons"] = ["pve01", "pve04"]
    doc["ceph"]["mgrs"] = ["pve01"]
    doc["ceph"]["osds"] = [o for o in doc["ceph"]["osds"] if o["node"] != "pve02"]
    doc["guests"] = [g for g in doc["guests"] if g["node"] != "pve02"]
    with (four.work / "without-pve02.yaml").open("w") as f:
        yaml.dump(doc, f)
    p = four.cli("plan", "without-pve02.yaml", "--prune")
    assert p.returncode == 1
    assert 'node["pve02"]: guests still on pve02: vm:101; migrate them to a node that stays' in p.stderr
    assert _status(four)["pve02"]["online"] == 1


def test_decommissioning_a_node_in_one_plan_applies(four: Lab) -> None:
    p = four.cli("plan", "decommission-3.yaml", "--prune", "--out", "decom.json")
    assert p.returncode == 0, p.stdout + p.stderr
    steps = [(a["kind"], a["node"]) for a in json.loads((four.work / "decom.json").read_text())["actions"]]
    assert steps == [("ceph_osd_destroy", "pve04"), ("ceph_mon_destroy", "pve04"), ("node_shutdown", "pve01"),
                     ("node_remove", "pve01")]
    p = four.cli("apply", "decom.json", "--allow-destroy", "--auto-approve")
    assert p.returncode == 0, p.stdout + p.stderr
    status = _status(four)
    assert sorted(status) == ["pve01", "pve02", "pve03"]
    lab_status = json.loads(four.cli("lab", "status", "--json").stdout)
    assert {n["node"]: n["power"] for n in lab_status["nodes"]}["pve04"] == "off"  # powered off before delnode
    assert four.cli("plan", "decommission-3.yaml", "--prune", "--detailed-exitcode").returncode == 0
