"""Consecutive storage adds on one node run as one task (library/pve_batch.py), except a
storage with a secret, which keeps its own stdin and 0600-file tasks (issue 17, apply:
bulk kinds, "many storages"). Starts from a converged lab without three of the stack's
storages: CephFS and NFS (no secrets) and PBS (a password)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_lab import SECRET, Lab, converged, json_lines, stack_copy

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

LEFT_OUT = re.compile(r"  - \{name: cephfs, type: cephfs,.*\n|  - name: (nfs-iso|pbs-backup)\n(    .*\n)+")
ADDS = ['storage["cephfs"]#add', 'storage["nfs-iso"]#add', 'storage["pbs-backup"]#add']  # plan order


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    def without(text: str) -> str:
        edited = LEFT_OUT.sub("", text)
        assert edited.count("\n") < text.count("\n") - 10 and "pbs-backup" not in edited
        return edited

    with converged(tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("work"), without) as lab:
        yield lab


def _storages(lab: Lab) -> dict[str, dict[str, Any]]:
    out = lab.node_cli("pve01", "pvesh", "get", "/storage", "--output-format", "json")
    return {s["storage"]: s for s in json.loads(out.stdout)}


def test_storages_without_secrets_are_one_task_and_a_secret_keeps_its_own(lab: Lab) -> None:
    assert not {"cephfs", "nfs-iso", "pbs-backup"} & set(_storages(lab))
    stack = stack_copy(lab.work / "lab.yaml")
    proc = lab.cli("apply", str(stack), "--auto-approve", "--format", "json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    have = _storages(lab)
    assert have["nfs-iso"]["server"] == "192.168.10.5" and have["nfs-iso"]["export"] == "/export/iso"
    assert have["cephfs"]["type"] == "cephfs" and have["pbs-backup"]["datastore"] == "main"
    events = json_lines((lab.runs()[-1] / "events.jsonl").read_text())
    ok = [e["event_data"] for e in events if e["event"] == "runner_on_ok"]
    [batch] = [d for d in ok if d["task_action"] == "pve_batch"]
    assert "pvesm add, 2 storages" in batch["task"] and len(batch["res"]["ran"]) == 2
    assert any(d["task"].endswith("pvesm add") and d["task_action"] == "ansible.builtin.command" for d in ok)
    assert SECRET not in (lab.runs()[-1] / "events.jsonl").read_text()
    assert [e["action"] for e in json_lines(proc.stdout) if e["event"] == "action_done"] == ADDS


def test_a_second_apply_adds_nothing(lab: Lab) -> None:
    proc = lab.cli("plan", str(stack_copy(lab.work / "lab.yaml")), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["actions"] == []
