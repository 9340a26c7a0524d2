"""``provision simulate`` through the installed entry point: text, JSON, N-1, --fail-on, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sim_builders import LAB_STACK, PVE9_STACK, REPO

PROVISION = Path(sys.executable).parent / "provision"


def provision(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVISION_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [str(PROVISION), *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False
    )


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def test_text_output_names_the_move_and_the_reason(tmp_path: Path) -> None:
    proc = provision("simulate", str(LAB_STACK), "--fail", "pve01", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Scenario: fail pve01" in out
    assert "pve01 → pve02" in out and "recovered" in out
    assert "group web" in out
    assert "vm-pool" in out and "DEGRADED" in out
    assert "2 of 3 MONs up" in out


def test_json_document_is_versioned_and_complete(tmp_path: Path) -> None:
    doc = as_json(provision("simulate", str(LAB_STACK), "--fail", "pve01", "--format", "json", home=tmp_path))
    assert (doc["format"], doc["format_version"]) == ("pve-provision/simulate", 1)
    (scenario,) = doc["scenarios"]
    assert scenario["name"] == "fail pve01" and scenario["status"] == "degraded"
    (step,) = scenario["steps"]
    assert step["quorum"]["quorate_partition"] == ["pve02", "pve03"]
    assert step["quorum"]["expected_votes"] == 3 and step["quorum"]["threshold"] == 2
    ha = {s["sid"]: s for s in step["ha"]}
    assert {sid: s["after"] for sid, s in ha.items()} == {
        "ct:200": "pve02", "vm:100": "pve02", "vm:101": "pve02", "vm:102": "pve03"
    }
    assert ha["vm:100"]["action"] == "recovered" and ha["vm:100"]["reason"]
    assert {p["name"]: p["state"] for p in step["ceph"]["pools"]}["vm-pool"] == "degraded"
    assert step["ceph"]["mons"]["quorate"] is True
    assert [c["node"] for c in step["capacity"]] == ["pve02", "pve03"]
    assert doc["assumptions"]


def test_each_node_on_the_lab_stack_keeps_quorum_everywhere(tmp_path: Path) -> None:
    doc = as_json(provision("simulate", str(LAB_STACK), "--each-node", "--format", "json", home=tmp_path))
    assert doc["each_node"] is True
    assert [s["name"] for s in doc["scenarios"]] == ["fail pve01", "fail pve02", "fail pve03"]
    for scenario in doc["scenarios"]:
        assert scenario["summary"]["quorate"] is True
        assert scenario["summary"]["quorum"] == "2/3"
        assert scenario["summary"]["ha_lost"] == []
        assert scenario["summary"]["ceph"] == "degraded"
    assert doc["scenarios"][0]["summary"]["ha_moved"] == ["ct:200", "vm:100"]


def test_each_node_text_matrix(tmp_path: Path) -> None:
    proc = provision("simulate", str(LAB_STACK), "--each-node", home=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "N-1" in proc.stdout
    for node in ("pve01", "pve02", "pve03"):
        assert f"fail {node}" in proc.stdout
    assert "yes 2/3" in proc.stdout


def test_fail_on_unavailable_passes_n_minus_one_on_the_lab_but_degraded_fails(tmp_path: Path) -> None:
    ok = provision("simulate", str(LAB_STACK), "--each-node", "--fail-on", "unavailable", home=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    degraded = provision("simulate", str(LAB_STACK), "--each-node", "--fail-on", "degraded", home=tmp_path)
    assert degraded.returncode == 1


def test_fail_on_unavailable_fails_when_a_service_is_lost(tmp_path: Path) -> None:
    args = ("simulate", str(PVE9_STACK), "--fail", "pve04", "--fail", "pve05")
    assert provision(*args, home=tmp_path).returncode == 0  # without --fail-on: report only
    proc = provision(*args, "--fail-on", "unavailable", "--format", "json", home=tmp_path)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["scenarios"][0]["status"] == "unavailable"
    assert any(m.startswith("vm:120 is not running") for m in doc["scenarios"][0]["unavailable"])


def test_recover_shows_a_second_step(tmp_path: Path) -> None:
    doc = as_json(
        provision("simulate", str(PVE9_STACK), "--fail", "pve04", "--fail", "pve05", "--recover", "pve05",
                  "--format", "json", home=tmp_path)
    )
    steps = doc["scenarios"][0]["steps"]
    assert [s["events"] for s in steps] == [["fail pve04", "fail pve05"], ["recover pve05"]]
    vm120 = next(s for s in steps[1]["ha"] if s["sid"] == "vm:120")
    assert (vm120["after"], vm120["action"], vm120["running_after"]) == ("pve05", "recovered", True)


def test_spec_errors_are_file_line_diagnostics(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(LAB_STACK.read_text().replace("nodeid: 2", "nodeid: two"))
    proc = provision("simulate", str(bad), "--fail", "pve01", home=tmp_path)
    assert proc.returncode == 1
    assert f"{bad}:" in proc.stderr and "nodeid" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fail", "pve9"), "unknown node 'pve9'"),
        (("--link-down", "pve01:7"), "no corosync link 7"),
        (("--each-node", "--recover", "pve01"), "cannot be combined"),
    ],
)
def test_bad_events_exit_1_with_a_message(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    proc = provision("simulate", str(LAB_STACK), *args, home=tmp_path)
    assert proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_missing_file(tmp_path: Path) -> None:
    proc = provision("simulate", str(tmp_path / "nope.yaml"), home=tmp_path)
    assert proc.returncode == 1 and "file not found" in proc.stderr


def test_live_without_a_running_lab_is_a_clear_error(tmp_path: Path) -> None:
    proc = provision("simulate", str(LAB_STACK), "--lab", "nosuchlab", "--fail", "pve01", home=tmp_path)
    assert proc.returncode == 1
    assert "nosuchlab" in proc.stderr and "Traceback" not in proc.stderr
