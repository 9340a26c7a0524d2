"""``provision drill`` on a lab converged with stacks/lab.yaml (``lab up --from``).

The drill really runs ``ha-manager crm-command node-maintenance`` on a node through
Ansible, the lab's HA manager really moves the services, and the report must say that
every move matched simulate's prediction. Refusals change nothing; Ctrl-C takes the node
out of maintenance again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labkit import LabHandle, start_lab, stop_lab

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "stacks" / "lab.yaml"
PROVISION = str(Path(sys.executable).parent / "provision")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    handle = start_lab(tmp_path_factory.mktemp("home"), "drill", "--from", str(STACK))
    try:
        yield handle
    finally:
        stop_lab(handle)


def drill(lab: LabHandle, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROVISION, "drill", str(STACK), "--lab", lab.name, "--poll", "0.2", "--timeout", "120",
                           *args], env=lab.env(), text=True, capture_output=True, timeout=600, check=False)


def manager(lab: LabHandle) -> dict[str, Any]:
    return dict(lab.get("/cluster/ha/status/manager_status")["manager_status"])


def placement(lab: LabHandle) -> dict[str, str]:
    return {sid: sd["node"] for sid, sd in manager(lab)["service_status"].items()}


def test_drill_moves_match_the_prediction(lab: LabHandle) -> None:
    before = placement(lab)
    p = drill(lab, "--node", "pve01", "-f", "json")
    assert p.returncode == 0, p.stdout + p.stderr
    report = json.loads(p.stdout)
    assert report["verdict"] == "passed" and report["node"] == "pve01"
    by_sid = {s["sid"]: s for s in report["services"]}
    # group web {pve01: 2, pve02: 2, pve03: 1}: pve01's services go to pve02 and come back
    for sid in ("vm:100", "ct:200"):
        s = by_sid[sid]
        assert (s["before"], s["predicted"], s["actual"], s["actual_back"]) == ("pve01", "pve02", "pve02", "pve01")
        assert s["matched"] and s["moved_after_s"] is not None and s["back_after_s"] is not None
    assert by_sid["vm:102"]["actual"] == "pve03"  # not on pve01: stays
    assert report["moves"] == 2 and report["matched"] == len(report["services"])
    assert {"maintenance", "failback"} <= set(report["durations_s"])
    ms = manager(lab)
    assert ms["node_status"]["pve01"] == "online" and "node_request" not in ms
    assert placement(lab) == before


def test_markdown_report_filed_as_evidence(lab: LabHandle, tmp_path: Path) -> None:
    out = tmp_path / "drill.md"
    p = drill(lab, "--node", "pve03", "-f", "markdown", "--out", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    text = out.read_text()
    assert text == p.stdout
    assert text.startswith("# Failover drill: lab, node pve03 - PASSED")
    # the restricted group db {pve03: 2, pve02: 1}: vm:102 goes to pve02 and back
    assert "| vm:102 | pve03 | pve02 | pve02 |" in text and "| pve03 | pve03 |" in text


def test_drill_refused_when_a_service_would_have_no_node(lab: LabHandle) -> None:
    lab.ok("PUT", "/cluster/ha/groups/db", nodes="pve03")  # vm:102 may run on pve03 only
    try:
        p = drill(lab, "--node", "pve03", "-f", "json")
        assert p.returncode == 1
        report = json.loads(p.stdout)
        assert report["verdict"] == "refused"
        assert any(x.startswith("vm:102 would be left without a node") for x in report["problems"])
        time.sleep(1)  # several CRM rounds at the lab's time scale: nothing was queued
        ms = manager(lab)
        assert ms["node_status"]["pve03"] == "online" and "node_request" not in ms
        assert placement(lab)["vm:102"] == "pve03"
    finally:
        lab.ok("PUT", "/cluster/ha/groups/db", nodes="pve03:2,pve02:1")


def test_unknown_node_is_refused(lab: LabHandle) -> None:
    p = drill(lab, "--node", "pve09")
    assert p.returncode == 1 and "pve09 is not a member of cluster lab" in p.stdout


def test_ctrl_c_takes_the_node_out_of_maintenance(lab: LabHandle) -> None:
    proc = subprocess.Popen([PROVISION, "drill", str(STACK), "--lab", lab.name, "--node", "pve02", "-f", "json",
                             "--poll", "0.2"], env=lab.env(), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    while line and "enabling HA maintenance" not in line:
        line = proc.stderr.readline()
    assert line, "the drill never started enabling maintenance"
    os.kill(proc.pid, signal.SIGINT)  # while ha-manager runs: recorded, acted on right after
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    report = json.loads(out)
    assert report["verdict"] == "interrupted"
    assert [e["event"] for e in report["timeline"]][-1] == "maintenance disabled on pve02"
    lab.wait(lambda: manager(lab)["node_status"]["pve02"] == "online" and "node_request" not in manager(lab)
             and placement(lab)["vm:101"] == "pve02", timeout=60, what="pve02 back online with vm:101")


def test_a_failed_disable_is_in_the_report(lab: LabHandle) -> None:
    lab.lab("faults", "--fail-once", "ha-manager crm-command node-maintenance disable")
    try:
        p = drill(lab, "--node", "pve02", "-f", "json")
        assert p.returncode == 1
        report = json.loads(p.stdout)
        assert report["verdict"] == "failed"
        assert any(x.startswith("pve02 is still in maintenance: ") and "injected fault" in x
                   for x in report["problems"])
        assert manager(lab)["node_request"] == {"pve02": {"maintenance": 1}}
    finally:
        lab.node("pve01", "ha-manager", "crm-command", "node-maintenance", "disable", "pve02")
    lab.wait(lambda: placement(lab)["vm:101"] == "pve02", timeout=60, what="vm:101 back on pve02")


def test_a_drill_on_a_degraded_cluster_is_refused_unless_allowed(lab: LabHandle) -> None:
    """Another node already down: refused with one line naming it, nothing changed; with
    --allow-degraded it runs, and a report filed as evidence must not read like one from a
    whole cluster."""
    lab.lab("fail", "pve03")
    try:
        lab.wait(lambda: placement(lab)["vm:102"] != "pve03", timeout=120, what="vm:102 recovered off pve03")
        before = placement(lab)
        p = drill(lab, "--node", "pve01", "-f", "json")
        assert p.returncode == 1, p.stdout + p.stderr
        report = json.loads(p.stdout)
        assert report["verdict"] == "refused"
        assert [r for r in report["problems"] if r.startswith("pve03 is offline: a drill now would leave pve01's "
                                                               "services fewer nodes")]
        assert placement(lab) == before and manager(lab)["node_status"]["pve01"] == "online"
        p = drill(lab, "--node", "pve01", "-f", "json", "--allow-degraded")
        assert p.returncode == 0, p.stdout + p.stderr
        report = json.loads(p.stdout)
        assert report["verdict"] == "passed"
        assert any(n.startswith("ran on a degraded cluster: pve03 offline") for n in report["notes"])
    finally:
        lab.lab("recover", "pve03")
