"""Does a stored plan still say what the stack and the cluster say? (`apply PLANFILE`)

A plan file's digest catches an edit, but anyone who can edit the file can also
re-seal it. Apply therefore makes the plan again from the same stack (its digest must
match) and the same cluster state (its fingerprint must match) with the options stored
in the file, and refuses when the stored actions differ from the recomputed ones in
anything apply would act on: which actions, their kind, phase, node, parameters and
dependencies. Destructiveness and serial runs follow from the kind (the catalogue), so
a stored plan can neither add an action nor disarm `--allow-destroy`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

_COMPARED = ("kind", "phase", "node", "params", "depends_on")


def _by_id(actions: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(a.get("id")): a for a in actions}


def plan_file_mismatch(stored: Mapping[str, Any], fresh: Mapping[str, Any]) -> str | None:
    """Why the stored plan's actions are not the ones this stack and cluster give, or None."""
    old, new = _by_id(stored.get("actions", [])), _by_id(fresh.get("actions", []))
    extra = sorted(set(old) - set(new))
    if extra:
        return f"the plan file holds action(s) that this stack and cluster do not call for: {', '.join(extra)}"
    missing = sorted(set(new) - set(old))
    if missing:
        return f"the plan file lacks action(s) that this stack and cluster call for: {', '.join(missing)}"
    if list(old) != list(new):
        return "the plan file orders its actions differently from the plan this stack and cluster give"
    for aid, a in old.items():
        b = new[aid]
        for key in _COMPARED:
            left, right = a.get(key), b.get(key)
            if key == "depends_on":
                left, right = sorted(left or []), sorted(right or [])
            if json.dumps(left, sort_keys=True) != json.dumps(right, sort_keys=True):
                return (f"action {aid}: its {key} in the plan file ({json.dumps(left, sort_keys=True)}) differs from "
                        f"what this stack and cluster give ({json.dumps(right, sort_keys=True)})")
    return None
