"""Does a stored plan still say what the stack and the cluster say? (`apply PLANFILE`)

A plan file's digest catches an edit, but anyone who can edit the file can also
re-seal it. Apply therefore makes the plan again from the same stack (its digest must
match) and the same cluster state (its fingerprint must match) with the options stored
in the file, and refuses when the stored actions differ from the recomputed ones in
anything apply would act on: which actions, their kind, phase, node, parameters and
dependencies. Destructiveness and serial runs follow from the kind (the catalogue), so
a stored plan can neither add an action nor disarm `--allow-destroy`.

When the cluster moved since the plan was made (its fingerprint differs), `what_moved`
says how, from the stored plan and a fresh one: which nodes went offline, which guests
moved, which managed objects no longer look as the plan saw them.
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


_SHOWN = 8  # reasons listed in a stale-plan refusal before "and N more"


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _live_moves(stored: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    """Nodes that went offline or came back, guests that moved, appeared or went away."""
    out: list[str] = []
    old_live, new_live = stored.get("live") or {}, fresh.get("live") or {}
    old_nodes, new_nodes = old_live.get("nodes") or {}, new_live.get("nodes") or {}
    for node in sorted(set(old_nodes) | set(new_nodes)):
        before, after = old_nodes.get(node), new_nodes.get(node)
        if before is not None and after is not None and before != after:
            out.append(f"node {node} {'came back online' if after else 'went offline'}")
        elif before is None and after is not None:
            out.append(f"node {node} joined")
        elif before is not None and after is None:
            out.append(f"node {node} left the cluster")
    old_guests, new_guests = old_live.get("guests") or {}, new_live.get("guests") or {}
    for sid in sorted(set(old_guests) | set(new_guests)):
        before, after = old_guests.get(sid), new_guests.get(sid)
        if before and after and before != after:
            out.append(f"{sid} moved {before} → {after}")
        elif after and not before:
            out.append(f"{sid} appeared on {after}")
        elif before and not after:
            out.append(f"{sid} is gone (was on {before})")
    return out


def _change_moves(stored: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    """Managed objects whose live state is not what the plan saw (compared by what each
    plan says must change: a field's old value, or whether a change is needed at all)."""
    out: list[str] = []
    old = {str(c.get("address")): c for c in stored.get("changes", [])}
    new = {str(c.get("address")): c for c in fresh.get("changes", [])}
    for address in sorted(set(old) | set(new)):
        a, b = old.get(address), new.get(address)
        if a is None and b is not None:
            fields = ", ".join(f"{d['path']} is {_value(d['old'])}" for d in b.get("field_diffs", []))
            out.append(f"{address} now differs from the stack" + (f" ({fields})" if fields else
                                                                  f" (needs {b.get('action')})"))
        elif a is not None and b is None:
            out.append(f"{address} no longer needs the planned {a.get('action')} (changed outside the plan)")
        elif a is not None and b is not None:
            before = {d["path"]: d["old"] for d in a.get("field_diffs", [])}
            after = {d["path"]: d["old"] for d in b.get("field_diffs", [])}
            moved = [f"{address}.{p}: {_value(before.get(p))} when planned, {_value(after.get(p))} now"
                     for p in sorted(set(before) | set(after)) if before.get(p) != after.get(p)]
            if not moved and (a.get("action"), _value(a.get("before"))) != (b.get("action"), _value(b.get("before"))):
                moved = [f"{address} changed since the plan was made"]
            out += moved
    old_un = {str(c.get("address")) for c in stored.get("unmanaged", [])}
    new_un = {str(c.get("address")) for c in fresh.get("unmanaged", [])}
    out += [f"{a} appeared (not in the stack)" for a in sorted(new_un - old_un)]
    out += [f"{a} is gone (was unmanaged)" for a in sorted(old_un - new_un)]
    return out


def what_moved(stored: Mapping[str, Any], fresh: Mapping[str, Any]) -> str:
    """What differs between the cluster a stored plan was made from and the cluster now,
    read from the two plans (the stored one and one made now from the same stack), as one
    line for the stale-plan refusal."""
    reasons = _live_moves(stored, fresh)
    old_id, new_id = stored.get("cluster") or {}, fresh.get("cluster") or {}
    for key in ("config_version", "quorate", "ceph_fsid"):
        if old_id.get(key) != new_id.get(key):
            reasons.append(f"{key} {_value(old_id.get(key))} → {_value(new_id.get(key))}")
    reasons += _change_moves(stored, fresh)
    if not reasons:
        return ("something the plan does not list changed (daemon or disk state, for instance); "
                "`provision plan` shows the cluster as it is now")
    more = len(reasons) - _SHOWN
    return "; ".join(reasons[:_SHOWN]) + (f"; and {more} more" if more > 0 else "")
