"""Apply trusts nothing in a plan file it can recompute (issue 10, item 3): an edited
file is refused by its digest, and an edited file that was re-sealed is refused because
its actions are not the ones the stack and the cluster call for. Nothing runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from e2e_lab import Lab, stack_copy

from provision.plan import planfile

pytestmark = [pytest.mark.e2e]

WEB = "- {name: web, nodes: {pve01: 2, pve02: 2, pve03: 1}}"


@pytest.fixture(scope="module")
def lab(built_lab: Lab) -> Lab:
    return built_lab


@pytest.fixture(scope="module")
def stored(lab: Lab) -> tuple[Path, dict[str, Any]]:
    stack = stack_copy(lab.work / "changed.yaml",
                       lambda t: t.replace(WEB, "- {name: web, nodes: {pve01: 2, pve02: 2, pve03: 3}}"))
    out = lab.work / "plan.json"
    proc = lab.cli("plan", str(stack), "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, json.loads(out.read_text())


def _apply(lab: Lab, path: Path) -> str:
    proc = lab.cli("apply", str(path), "--auto-approve", "--allow-destroy")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert lab.runs() == []  # refused before anything was rendered or run
    return proc.stderr + proc.stdout


def test_an_edited_plan_file_is_refused(lab: Lab, stored: tuple[Path, dict[str, Any]]) -> None:
    _, document = stored
    edited = json.loads(json.dumps(document))
    edited["actions"][0]["params"]["nodes"]["pve03"] = 1
    bad = lab.work / "edited.json"
    bad.write_text(json.dumps(edited))
    assert "modified after it was made" in _apply(lab, bad)


def test_a_resealed_injected_destructive_action_is_refused(lab: Lab, stored: tuple[Path, dict[str, Any]]) -> None:
    _, document = stored
    forged = json.loads(json.dumps(document))
    forged.pop("digest")
    forged["actions"].append({
        "id": 'ha.resource["vm:100"]#remove', "step": 2, "phase": "destroy_ha_resources",
        "kind": "ha_resource_remove", "node": None, "address": 'ha.resource["vm:100"]',
        "params": {"sid": "vm:100"}, "serial": False, "destructive": False, "depends_on": [], "changes": [],
        "reason": ""})
    forged["phases"].append({"name": "destroy_ha_resources", "actions": ['ha.resource["vm:100"]#remove']})
    bad = lab.work / "forged.json"
    bad.write_text(planfile.dumps(forged))
    out = _apply(lab, bad)
    assert 'do not call for: ha.resource["vm:100"]#remove' in out
    res = lab.node_cli("pve01", "pvesh", "get", "/cluster/ha/resources/vm:100", "--output-format", "json")
    assert res.returncode == 0  # still HA-managed


def test_resealed_retargeted_params_are_refused(lab: Lab, stored: tuple[Path, dict[str, Any]]) -> None:
    _, document = stored
    forged = json.loads(json.dumps(document))
    forged.pop("digest")
    forged["actions"][0]["params"]["nodes"] = {"pve01": 9}
    bad = lab.work / "retargeted.json"
    bad.write_text(planfile.dumps(forged))
    assert "its params in the plan file" in _apply(lab, bad)


def test_the_untouched_plan_file_applies(lab: Lab, stored: tuple[Path, dict[str, Any]]) -> None:
    path, _ = stored
    proc = lab.cli("apply", str(path), "--auto-approve")
    assert proc.returncode == 0, proc.stdout + proc.stderr
