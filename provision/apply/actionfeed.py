"""Ansible's task events turned into the events a person or a CI log follows: a plan
action started, finished or failed, with its id and how long it took.

Ansible reports tasks; a reviewer approved actions. The progress views (apply's
one-line-per-action log when there is no terminal, `--output json`) need the actions,
and need every event stamped with a time and, where it belongs to one, the action id,
so a CI log read an hour later still says what ran when. Whether an action has started,
finished or failed is the run's own judgement (`runner.ActionTracker`): this module only
watches that judgement change and says so, so the views and the run report never
disagree about what an action did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from provision.apply.render import RunDir
from provision.apply.runner import TASK_ACTION, ActionTracker

Event = dict[str, Any]
ACTION_EVENTS = ("action_start", "action_done", "action_failed")
"""The synthetic event names this feed adds to Ansible's own."""


def event_time(event: Mapping[str, Any]) -> str:
    """When an event happened: ansible-runner's `created` stamp (UTC), else now."""
    created = event.get("created")
    if isinstance(created, str) and created:
        return created
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _seconds(start: str, end: str) -> float | None:
    try:
        return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())
    except ValueError:
        return None


class ActionFeed:
    """Wraps a view: every Ansible event goes on stamped with `time` (and `action`, the
    plan action id, when its task belongs to one), and after it the action transitions
    that event caused (`action_start`, `action_done`, `action_failed`, each with the
    action's kind, address, node and, when it ended, its duration in seconds)."""

    def __init__(self, run_dir: RunDir, view: Callable[[Event], None]) -> None:
        self._view = view
        self._tracker = ActionTracker(run_dir)
        self._by_label = {ra.label: ra for ra in run_dir.actions}
        self._by_id = {str(ra.action.id): ra for ra in run_dir.actions}
        self._started_at: dict[str, str] = {}
        self._ended: set[str] = set()

    def __call__(self, event: Mapping[str, Any]) -> None:
        when = event_time(event)
        task = str((event.get("event_data") or {}).get("task") or "")
        match = TASK_ACTION.match(task)
        stamped: Event = {**event, "time": when}
        if match and match.group("id") in self._by_label:
            stamped["action"] = str(self._by_label[match.group("id")].action.id)
        before_started = set(self._tracker.started)
        self._tracker.feed(event)
        for aid in self._tracker.order:
            if aid in self._tracker.started and aid not in before_started:
                self._started_at[aid] = when
                self._view(self._transition("action_start", aid, when))
        self._view(stamped)
        for aid in self._tracker.order:
            if aid in self._ended:
                continue
            if aid in self._tracker.failed:
                self._ended.add(aid)
                self._view(self._transition("action_failed", aid, when))
            elif aid in self._tracker.done:
                self._ended.add(aid)
                self._view(self._transition("action_done", aid, when))

    def _transition(self, name: str, aid: str, when: str) -> Event:
        ra = self._by_id[aid]
        out: Event = {"event": name, "time": when, "action": aid, "kind": ra.action.kind.value,
                      "address": str(ra.action.address), "node": ra.host}
        if name != "action_start":
            seconds = _seconds(self._started_at.get(aid, when), when)
            if seconds is not None:
                out["seconds"] = round(seconds, 1)
        return out


__all__ = ["ACTION_EVENTS", "ActionFeed", "event_time"]
