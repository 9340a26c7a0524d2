"""The run record: what was planned, what was run, what happened.

The run directory already holds the plan (`plan.json`) and the rendered playbooks;
this adds every runner event as JSONL and a `summary.json` (wall time, task counts,
done / failed / partial / not-done actions, and why the run stopped). Events come from
memory (ansible-runner's own artifacts are thrown away, see runner.py) and are written
without the module invocation args, so the record is safe to keep and to attach to a
CI job. As a last line of defence the whole directory is scanned for every secret value used in the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from provision.apply.runner import RunResult


class SecretLeakError(RuntimeError):
    """A secret value was found in a file of the run directory."""


def _scrub(event: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(event)
    data = dict(out.get("event_data") or {})
    res = data.get("res")
    if isinstance(res, Mapping):
        res = dict(res)
        res.pop("invocation", None)  # module args as Ansible received them
        data["res"] = res
    out["event_data"] = data
    return out


class EventLog:
    """Append-only JSONL of runner events, one object per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] = path.open("a", encoding="utf-8")

    def __call__(self, event: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(_scrub(event), sort_keys=True, default=str) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def write_summary(root: Path, result: RunResult, extra: Mapping[str, Any] | None = None) -> Path:
    doc: dict[str, Any] = {
        "status": result.status,
        "rc": result.rc,
        "ok": result.ok,
        "wall_seconds": round(result.wall_seconds, 3),
        "tasks": {**asdict(result.tally), "executed": result.tally.tasks},
        "events": result.events,
        "actions": {"done": result.done, "failed": result.failed, "partial": result.partial,
                    "not_done": result.not_done},
        "partial_progress": result.progress,
        "failures": result.failure_messages,
    }
    if extra:
        doc.update(extra)
    path = root / "summary.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


# A shorter value would be found by chance in any file (a one-letter test password
# matches everything); such values are not scanned for.
MIN_SCANNED_LENGTH = 6


def find_secrets(root: Path, values: Iterable[str]) -> list[Path]:
    """Files under `root` that contain any of `values` (values too short to mean anything
    are ignored, see MIN_SCANNED_LENGTH)."""
    needles = [v.encode("utf-8") for v in values if len(v) >= MIN_SCANNED_LENGTH]
    if not needles:
        return []
    hits: list[Path] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            blob = path.read_bytes()
        except OSError:
            continue
        if any(n in blob for n in needles):
            hits.append(path)
    return hits


def assert_no_secrets(root: Path, values: Iterable[str]) -> None:
    hits = find_secrets(root, values)
    if hits:
        names = ", ".join(str(p.relative_to(root)) for p in hits)
        raise SecretLeakError(f"a secret value was written to the run directory: {names}")
