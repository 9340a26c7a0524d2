"""Consecutive HA group and resource adds on one node run as one task each
(library/pve_batch.py), and the run still reports each action on its own: what finished,
what failed, what never ran (issue 17, apply: bulk kinds). Starts from a converged lab
without HA groups and resources."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_lab import Lab, converged, json_lines, stack_copy

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

RESOURCES = ('    - {sid: "vm:100", group: web}\n    - {sid: "vm:101", group: web}\n'
             '    - {sid: "vm:102", group: db, max_relocate: 2}\n'
             '    - {sid: "ct:200", group: web, comment: internal DNS}\n')
GROUPS = re.compile(r"  groups:\n(    .*\n)+(?=  resources:)")
GROUP_ADDS = {'ha.group["web"]#add', 'ha.group["db"]#add'}
ADDS = ['ha.resource["ct:200"]#add', 'ha.resource["vm:100"]#add', 'ha.resource["vm:101"]#add',
        'ha.resource["vm:102"]#add']  # plan order


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    def without(text: str) -> str:
        return GROUPS.sub("  groups: []\n", text.replace(RESOURCES, "    []\n").replace(
            "  resources:\n    []\n", "  resources: []\n"), count=1)

    with converged(tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("work"), without) as lab:
        yield lab


def _resources(lab: Lab) -> set[str]:
    out = lab.node_cli("pve01", "pvesh", "get", "/cluster/ha/resources", "--output-format", "json")
    return {r["sid"] for r in json.loads(out.stdout)}


def _events(run: Path) -> list[dict[str, Any]]:
    return json_lines((run / "events.jsonl").read_text())


def test_a_failed_member_stops_the_batch_and_each_action_is_reported(lab: Lab) -> None:
    assert _resources(lab) == set()
    assert lab.cli("lab", "faults", "--fail-once", "ha-manager add vm:101").returncode == 0
    stack = stack_copy(lab.work / "lab.yaml")
    proc = lab.cli("apply", str(stack), "--auto-approve", "--format", "json")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    final = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(final["done"][:2]) == GROUP_ADDS  # both groups, one task
    [groups] = [e for e in _events(lab.runs()[-1])
                if e["event"] == "runner_on_ok" and "ha-manager groupadd" in e["event_data"]["task"]]
    assert groups["event_data"]["task_action"] == "pve_batch" and len(groups["event_data"]["res"]["ran"]) == 2
    assert final["done"][2:] == ADDS[:2]
    assert final["failed"] == ADDS[2:3]
    assert final["not_done"] == ADDS[3:]
    assert any("ha-manager add vm:101: command 'ha-manager add vm:101 --state started --group web" in e
               and "injected fault (lab fail-once)" in e for e in final["errors"]), final["errors"]
    assert _resources(lab) == {"ct:200", "vm:100"}  # what the report says is what the cluster has
    # one line per action in the progress stream
    events = json_lines(proc.stdout)
    assert [e["action"] for e in events if e["event"] == "action_done"][2:] == ADDS[:2]
    assert [e["action"] for e in events if e["event"] == "action_failed"] == ADDS[2:3]


def test_the_remaining_adds_run_as_one_task_and_converge(lab: Lab) -> None:
    stack = stack_copy(lab.work / "lab.yaml")
    proc = lab.cli("apply", str(stack), "--auto-approve", "--format", "json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert _resources(lab) == {"vm:100", "vm:101", "vm:102", "ct:200"}
    run = lab.runs()[-1]
    ran = [e for e in _events(run) if e["event"] == "runner_on_ok" and "ha-manager add" in e["event_data"]["task"]]
    assert len(ran) == 1  # the two missing resources, one task
    assert ran[0]["event_data"]["task_action"] == "pve_batch"
    assert len(ran[0]["event_data"]["res"]["ran"]) == 2
    assert [e["action"] for e in json_lines(proc.stdout) if e["event"] == "action_done"] == ADDS[2:]
    assert lab.cli("plan", str(stack), "--detailed-exitcode").returncode == 0
