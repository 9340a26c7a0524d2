"""Consecutive HA group and resource adds on one node run as one task each
(library/pve_batch.py), and the run still reports each action on its own: what finished,
what failed, what never ran (issue 17, apply: bulk kinds). Starts from a converged lab
without HA groups and resources."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_lab import PROVISION, Lab, converged, json_lines, stack_copy

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


def _plan_nodes(run: Path) -> dict[str, str | None]:
    plan = json.loads((run / "plan.json").read_text())
    return {a["id"]: a.get("node") for a in plan["actions"] if a["kind"] == "ha_resource_add"}


GUEST_NODE = {"ct:200": "pve01", "vm:100": "pve01", "vm:101": "pve02", "vm:102": "pve03"}
"""Where stacks/lab.yaml's guests run, so where their adds run."""


def _batches(run: Path) -> list[dict[str, Any]]:
    return [e for e in _events(run) if e["event"] in ("runner_on_ok", "runner_on_failed")
            and "ha-manager add" in e["event_data"]["task"]]


def test_a_failed_member_stops_the_batch_and_each_action_is_reported(lab: Lab) -> None:
    assert _resources(lab) == set()
    assert lab.cli("lab", "faults", "--fail-once", "ha-manager add ct:200").returncode == 0
    stack = stack_copy(lab.work / "lab.yaml")
    proc = lab.cli("apply", str(stack), "--auto-approve", "--format", "json")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    run = lab.runs()[-1]
    # each add runs on the node of its guest (stacks/lab.yaml: ct:200 and vm:100 on pve01)
    assert _plan_nodes(run) == {a: GUEST_NODE[a.split('"')[1]] for a in ADDS}
    final = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(final["done"][:2]) == GROUP_ADDS  # both groups, one task
    [groups] = [e for e in _events(run)
                if e["event"] == "runner_on_ok" and "ha-manager groupadd" in e["event_data"]["task"]]
    assert groups["event_data"]["task_action"] == "pve_batch" and len(groups["event_data"]["res"]["ran"]) == 2
    # pve01's batch stopped at its first member, whose error was not the cluster lock's
    assert final["failed"] == ADDS[:1]
    assert ADDS[1] in final["not_done"]
    [failed] = [e for e in _batches(run) if e["event"] == "runner_on_failed"]
    assert failed["event_data"]["host"] == "pve01" and failed["event_data"]["res"]["retried"] == {}
    assert any("ha-manager add ct:200: command 'ha-manager add ct:200 --state started --group web" in e
               and "injected fault (lab fail-once)" in e for e in final["errors"]), final["errors"]
    # the other nodes' batches ran side by side, or never started once pve01 failed
    others = final["done"][2:]
    assert set(others) | set(final["not_done"]) == set(ADDS[1:]) and set(others) <= set(ADDS[2:])
    done_sids = {a.split('"')[1] for a in others}
    assert _resources(lab) == done_sids  # what the report says is what the cluster has
    # one line per action in the progress stream
    events = json_lines(proc.stdout)
    assert sorted([e["action"] for e in events if e["event"] == "action_done"][2:]) == sorted(others)
    assert [e["action"] for e in events if e["event"] == "action_failed"] == ADDS[:1]


def test_the_remaining_adds_run_as_one_task_per_node_and_converge(lab: Lab) -> None:
    missing = {"ct:200", "vm:100", "vm:101", "vm:102"} - _resources(lab)
    stack = stack_copy(lab.work / "lab.yaml")
    proc = lab.cli("apply", str(stack), "--auto-approve", "--format", "json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert _resources(lab) == {"vm:100", "vm:101", "vm:102", "ct:200"}
    ran = _batches(lab.runs()[-1])
    by_host = {e["event_data"]["host"]: e for e in ran}
    assert len(by_host) == len(ran)  # one task per node
    # the first test's failure may or may not have let pve02's and pve03's adds run: a node
    # with two or more adds left runs them as one batch, a node with one its single add
    per_node = Counter(GUEST_NODE[sid] for sid in missing)
    assert {h: e["event_data"]["task_action"] for h, e in by_host.items()} == {
        h: "pve_batch" if n > 1 else "ansible.builtin.command" for h, n in per_node.items()}
    assert len(by_host["pve01"]["event_data"]["res"]["ran"]) == 2  # ct:200 and vm:100, one task
    assert sum(len(e["event_data"]["res"]["ran"]) if e["event_data"]["task_action"] == "pve_batch" else 1
               for e in ran) == len(missing)
    done = [e["action"] for e in json_lines(proc.stdout) if e["event"] == "action_done"]
    assert sorted(done) == sorted(f'ha.resource["{sid}"]#add' for sid in missing)
    assert lab.cli("plan", str(stack), "--detailed-exitcode").returncode == 0


def _apply_while_locked(lab: Lab, sids: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """Take `sids` out of HA, hold `domain-ha` as another node's HA edit would (its lock
    directory, as pmxcfs shows it), apply the stack, and free the lock once the first add
    has been run a second time (it waited the lock out first). Returns the progress stream
    and the add task's event."""
    for sid in sids:
        lab.node_cli("pve01", "ha-manager", "remove", sid)
    lock = lab.lab_dir / "cfs-locks" / "domain-ha"
    lock.mkdir(parents=True)
    argv_log = lab.lab_dir / "argv.log"
    seen = len(argv_log.read_text().splitlines())
    stack = stack_copy(lab.work / "lab.yaml")
    proc = subprocess.Popen([*PROVISION, "apply", str(stack), "--auto-approve", "--format", "json"],
                            cwd=lab.work, env=lab.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            adds = [line for line in argv_log.read_text().splitlines()[seen:]
                    if json.loads(line)["argv"][:3] == ["ha-manager", "add", sids[0]]]
            if len(adds) >= 2:
                break
            time.sleep(0.5)
    finally:
        lock.rmdir()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-2000:] + err[-2000:]
    [task] = _batches(lab.runs()[-1])
    assert set(_resources(lab)) >= set(sids)
    assert sorted(e["action"] for e in json_lines(out) if e["event"] == "action_done") == \
        sorted(f'ha.resource["{sid}"]#add' for sid in sids)  # each reported done once
    return out, task


def test_a_batch_member_that_waited_out_the_cluster_lock_runs_again(lab: Lab) -> None:
    """pve01's two adds are one batch; its first member fails after PVE's 10 attempts
    with the lock timeout and the batch runs it again once the lock is free."""
    _, task = _apply_while_locked(lab, ("ct:200", "vm:100"))
    res = task["event_data"]["res"]
    assert task["event_data"]["host"] == "pve01" and task["event_data"]["task_action"] == "pve_batch"
    assert res["retried"] == {res["ran"][0]: 2} and len(res["ran"]) == 2


def test_a_single_add_that_waited_out_the_cluster_lock_runs_again(lab: Lab) -> None:
    _, task = _apply_while_locked(lab, ("vm:102",))
    assert task["event_data"]["host"] == "pve03"
    assert task["event_data"]["res"]["attempts"] == 2
