"""A node's consecutive OSD creates run as one task (library/pve_batch.py), still decided
per disk from the phase probe's disk list as a single create is: a disk already an OSD
is left alone, a missing disk (or one in use by something else) stops the run before its
command, and the
run reports each OSD on its own (issue 17, apply: 384 OSDs on 32 nodes). Starts from a
converged lab without three of pve02's OSDs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_lab import Lab, converged, json_lines, stack_copy

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

MISSING = ("/dev/sdd", "/dev/sde", "/dev/sdf")


def _osd(dev: str) -> str:
    return f"      - {{node: pve02, device: {dev}, device_class: ssd}}\n"


def _id(dev: str) -> str:
    return f'ceph.osd["pve02:{dev}"]#create'


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    def without(text: str) -> str:
        for dev in MISSING:
            text = text.replace(_osd(dev), "")
        return text

    with converged(tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("work"), without) as lab:
        yield lab


def _osd_disks(lab: Lab) -> set[str]:
    out = lab.node_cli("pve02", "pvesh", "get", "/nodes/pve02/disks/list", "--output-format", "json")
    return {d["devpath"] for d in json.loads(out.stdout) if int(d.get("osdid", -1)) >= 0}


def _osd_tasks(run: Path) -> list[dict[str, Any]]:
    return [e for e in json_lines((run / "events.jsonl").read_text())
            if e["event"] in ("runner_on_ok", "runner_on_failed") and "pveceph osd create" in e["event_data"]["task"]]


def test_a_missing_disk_stops_the_batch_before_its_command(lab: Lab) -> None:
    assert not _osd_disks(lab) & set(MISSING)
    # a disk pve02 does not have in place of sde and sdf (plan order: sdd, sdz): the create
    # before it runs, then it is refused as a single create refuses it
    stack = stack_copy(lab.work / "sdz.yaml", lambda t: t.replace(_osd("/dev/sde"), _osd("/dev/sdz")).replace(
        _osd("/dev/sdf"), ""))
    proc = lab.cli("apply", str(stack), "--auto-approve", "--format", "json")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    final = json.loads(proc.stdout.strip().splitlines()[-1])
    assert final["done"] == [_id("/dev/sdd")]
    assert final["failed"] == [_id("/dev/sdz")]
    assert any("/dev/sdz on pve02: no such disk" in e for e in final["errors"]), final["errors"]
    assert _osd_disks(lab) & set(MISSING) == {"/dev/sdd"}  # the report is what the node has
    [task] = _osd_tasks(lab.runs()[-1])  # both, one task
    assert task["event_data"]["task_action"] == "pve_batch"
    assert len(task["event_data"]["res"]["ran"]) == 1


def test_the_remaining_creates_run_as_one_task_and_converge(lab: Lab) -> None:
    stack = stack_copy(lab.work / "lab.yaml")
    proc = lab.cli("apply", str(stack), "--auto-approve", "--format", "json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert set(MISSING) <= _osd_disks(lab)
    [task] = _osd_tasks(lab.runs()[-1])  # the two missing OSDs, one task
    assert task["event_data"]["task_action"] == "pve_batch"
    assert len(task["event_data"]["res"]["ran"]) == 2
    assert [e["action"] for e in json_lines(proc.stdout) if e["event"] == "action_done"] == [
        _id("/dev/sde"), _id("/dev/sdf")]
    assert lab.cli("plan", str(stack), "--detailed-exitcode").returncode == 0
