"""Representative plans for rendering tests, built from the per-kind JSON cases
(tests/actions/cases): one action of every kind, as plan files carry them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NODES = ["pve01", "pve02", "pve03"]
CASES = Path(__file__).resolve().parents[1] / "actions" / "cases"


def case_action(kind: str, name: str | None = None) -> dict[str, Any]:
    """The action of one case (the first of its kind when `name` is None)."""
    path = CASES / kind / f"{name}.json" if name else sorted((CASES / kind).glob("*.json"))[0]
    return dict(json.loads(path.read_text(encoding="utf-8"))["action"])


def all_kinds_plan() -> dict[str, Any]:
    """One plan that exercises every action kind (not a plan anyone would apply)."""
    from provision.actions import Kind, Phase

    actions = [case_action(k.value) for k in Kind if k != Kind.STORAGE_ADD]
    actions += [case_action("storage_add", "pbs-with-password"), case_action("storage_add", "nfs-comment-is-data")]
    # a second HA resource add right after the first: consecutive adds on one node are one batch task
    first = next(i for i, a in enumerate(actions) if a["kind"] == "ha_resource_add")
    second = case_action("ha_resource_add", "pve9-failback")
    second.update(id='ha.resource["vm:101"]#add', address='ha.resource["vm:101"]',
                  params={**second["params"], "sid": "vm:101", "comment": "{{ lookup('pipe', 'id') }}"})
    actions.insert(first + 1, second)
    actions.sort(key=lambda a: Phase(a["phase"]).rank)
    for step, action in enumerate(actions, start=1):
        action["step"] = step
    return {"id": "p-allkinds", "pve_version": 8, "actions": actions}
