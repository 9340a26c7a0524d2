"""Plan files: the plan document written by `plan --out` and read by `show`/`apply`.

A plan file stores what apply must re-check before touching anything: the spec
digest, the observed fingerprint and the cluster identity. It never holds a
secret (only references such as `{"secret": "env:PBS_PASSWORD"}`).

Loading trusts nothing it can check: every action is validated against its kind in
the catalogue (params, phase, serial, destructive), phases must list exactly the
actions, and `digest` (sha256 over the rest of the document) must match, so an edit
after `plan --out` is refused. The digest catches edits and corruption; apply also
re-plans from the stack and the live cluster and refuses a plan whose actions differ,
which no edit of the file can get around.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from provision.actions import Action, ActionError
from provision.plan.plan import FORMAT_VERSION

REQUIRED = ("format_version", "spec_digest", "observed_fingerprint", "cluster", "actions", "changes", "summary")
# The JSON type of each top-level field show/apply read (a hand-edited file must
# fail here with one line, not deep inside a renderer or apply).
TYPES: dict[str, type] = {
    "spec_digest": str, "observed_fingerprint": str, "cluster": dict, "actions": list, "changes": list,
    "summary": dict, "stack": str, "options": dict, "unmanaged": list, "notes": list, "phases": list,
}


class PlanFileError(Exception):
    """A plan file that cannot be used (missing, not JSON, wrong format version) or written."""


def content_digest(document: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of everything but the digest itself."""
    body = {k: v for k, v in document.items() if k != "digest"}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def dumps(document: dict[str, Any]) -> str:
    """The file text, with the integrity digest over the document."""
    sealed = {**document, "digest": content_digest(document)}
    return json.dumps(sealed, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def save(document: dict[str, Any], path: str | Path) -> Path:
    """Write atomically (a half-written plan must never be applied)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(dumps(document), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise PlanFileError(f"{path}: cannot write the plan file: {exc.strerror or exc}") from None
    return path


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such plan file") from None
    except (OSError, ValueError) as exc:
        raise PlanFileError(f"{path}: not a plan file ({exc})") from None
    if not isinstance(data, dict):
        raise PlanFileError(f"{path}: not a plan file (expected a JSON object)")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        # JSON spelling, so a number 1 and the string "1" do not print alike
        raise PlanFileError(f"{path}: plan format version {json.dumps(version)} is not supported (this tool "
                            f"reads {json.dumps(FORMAT_VERSION)}); make the plan again with this version")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise PlanFileError(f"{path}: plan file is missing {', '.join(missing)}")
    wrong = [k for k, kind in TYPES.items() if k in data and not isinstance(data[k], kind)]
    if not wrong:
        wrong = [f"actions[{i}]" for i, a in enumerate(data["actions"])
                 if not (isinstance(a, dict) and isinstance(a.get("id"), str))]
    if wrong:
        raise PlanFileError(f"{path}: not a plan file (wrong type: {', '.join(wrong)})")
    ids = {a["id"] for a in data["actions"]}
    phases = data.get("phases", [])
    if not all(isinstance(p, dict) and isinstance(p.get("actions"), list) for p in phases):
        raise PlanFileError(f"{path}: not a plan file (wrong type: phases)")
    unknown = sorted({str(i) for p in phases for i in p["actions"] if not isinstance(i, str) or i not in ids})
    if unknown:
        raise PlanFileError(f"{path}: not a plan file (phases name unknown actions: {', '.join(unknown)})")
    if data.get("digest") != content_digest(data):
        raise PlanFileError(f"{path}: the plan file was modified after it was made (its digest does not match "
                            "its content); make a new plan")
    check_actions(data, str(path))
    return data


def check_actions(document: dict[str, Any], where: str) -> list[Action]:
    """Every action valid for its kind, ids unique, dependencies and phases consistent."""
    try:
        actions = [Action.from_json(a) for a in document["actions"]]
    except ActionError as exc:
        raise PlanFileError(f"{where}: {exc}") from None
    ids = [a.id for a in actions]
    if len(set(ids)) != len(ids):
        raise PlanFileError(f"{where}: an action id appears twice")
    known = set(ids)
    for a in actions:
        missing = [str(d) for d in a.depends_on if d not in known]
        if missing:
            raise PlanFileError(f"{where}: action {a.id} depends on unknown action(s) {', '.join(missing)}")
    listed = [i for p in document.get("phases", []) for i in p["actions"]]
    expected = {(str(a.id), a.phase.value) for a in actions}
    if document.get("phases") is not None and (
            sorted(listed) != sorted(str(i) for i in ids)
            or {(i, p["name"]) for p in document["phases"] for i in p["actions"]} != expected):
        raise PlanFileError(f"{where}: the phases do not list exactly the plan's actions in their phases")
    return actions
