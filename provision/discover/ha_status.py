"""Whether the HA stack is disarmed, from ``GET /cluster/ha/status/manager_status``.

PVE 9 (pve-ha-manager >= 5.1.3) can disarm HA cluster-wide (``ha-manager crm-command
disarm-ha freeze|ignore``): no fencing, no recovery until someone arms it again. The CRM
keeps that in its manager status as ``disarm: {mode, state}`` (state ``disarming`` until
every LRM released its watchdog, then ``disarmed``). A disarm left behind after a
maintenance window is an HA cluster that protects nothing, so plan and drift say so in a
note, apply refuses to take over someone else's, and a drill refuses to run on one. This
is the one reader of that entry; it is not part of the stack model or the fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PATH = "/cluster/ha/status/manager_status"
ARM_COMMAND = "ha-manager crm-command arm-ha"


@dataclass(frozen=True)
class Disarm:
    """The CRM's ``disarm`` entry: ``mode`` freeze|ignore, ``state`` disarming|disarmed."""

    mode: str
    state: str

    def describe(self) -> str:
        """What plan, drift, apply and drill print about it (one line, no advice)."""
        return f"HA disarmed (resource-mode={self.mode}, {self.state})"


def disarm_of(answer: Any) -> Disarm | None:
    """The disarm entry of a ``manager_status`` answer; None when HA is armed (or the
    answer is missing, as on a cluster without HA yet)."""
    ms = answer.get("manager_status") if isinstance(answer, dict) else None
    entry = ms.get("disarm") if isinstance(ms, dict) else None
    if not isinstance(entry, dict):
        return None
    return Disarm(str(entry.get("mode") or "unknown"), str(entry.get("state") or "unknown"))


def disarm_notes(answer: Any) -> list[str]:
    """The plan note for a disarmed HA stack (none while armed)."""
    disarm = disarm_of(answer)
    if disarm is None:
        return []
    return [f"{disarm.describe()}: nothing is fenced or recovered until someone runs `{ARM_COMMAND}`"]


def is_disarm_note(note: str) -> bool:
    return note.startswith("HA disarmed (")
