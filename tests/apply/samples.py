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
    actions.sort(key=lambda a: Phase(a["phase"]).rank)
    for step, action in enumerate(actions, start=1):
        action["step"] = step
    return {"id": "p-allkinds", "pve_version": 8, "actions": actions}
