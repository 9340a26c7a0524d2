"""`provision apply` command-line behaviour that needs no lab."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provision.apply import physical_nics
from provision.apply.progress import PhaseLines
from provision.spec import load_stack

STACK = Path(__file__).parents[2] / "stacks" / "lab.yaml"


def test_physical_nics_come_from_the_observed_nodes() -> None:
    cluster = load_stack(STACK).cluster
    nics = physical_nics(cluster)
    assert set(nics) == set(cluster.node_names)
    first = cluster.nodes[0]
    assert nics[first.name] == [i.name for i in first.interfaces if i.type == "nic"]
    assert "vmbr0" not in nics[first.name]


def _apply(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVISION_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    env.pop("PROVISION_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "provision", "apply", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (None, "plan.json", "plan.json: no such file"),
        ('{"format_version": "1", "actions": [', "plan.json", "plan.json: not a plan file"),
        ('{"format_version": "1", "actions": [', "saved-plan", "saved-plan: not a plan file"),
        ('{"format_version": "2", "actions": []}', "plan.json", "plan file is missing spec_digest"),
        ("[1, 2]", "plan.json", "not a plan file (expected a JSON object)"),
    ],
)
def test_bad_plan_file_is_one_clear_line(tmp_path: Path, content: str | None, name: str, expected: str) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    proc = _apply(tmp_path, name, "--auto-approve")
    assert proc.returncode == 1
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "yaml" not in proc.stderr.lower()


def test_unknown_lab_is_one_clear_line(tmp_path: Path) -> None:
    proc = _apply(tmp_path, str(STACK), "--lab", "nosuchlab", "--auto-approve")
    assert proc.returncode == 1
    assert "lab 'nosuchlab' is not running" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / ".provision").exists() and not (tmp_path / "home" / "runs").exists()


def test_quiet_prints_one_line_per_phase() -> None:
    out = io.StringIO()
    view = PhaseLines(out)
    net = "Phase network: network_apply (one node at a time)"
    events: list[dict[str, Any]] = [
        {"event": "playbook_on_start"},
        {"event": "playbook_on_play_start", "event_data": {"play": net}},
        {"event": "runner_on_ok", "event_data": {"task": "Action a001: x", "host": "pve01", "res": {"changed": True}}},
        {"event": "playbook_on_play_start", "event_data": {"play": net}},
        {"event": "playbook_on_play_start", "event_data": {"play": "Phase ceph: ceph_osd_create"}},
        {"event": "runner_on_failed", "event_data": {"task": "Action a002: y", "host": "pve02", "res": {"msg": "x"}}},
    ]
    with view:
        for event in events:
            view(event)
    assert out.getvalue() == f"{net}\nPhase ceph: ceph_osd_create\n"


def test_quiet_and_json_output_are_exclusive(tmp_path: Path) -> None:
    proc = _apply(tmp_path, str(STACK), "--quiet", "--format", "json", "--auto-approve")
    assert proc.returncode == 1
    assert "--quiet and --format json cannot be combined" in proc.stderr
    assert proc.stdout == ""
