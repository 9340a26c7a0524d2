"""Progress of an apply, driven by ansible-runner events (stamped and completed with
action start/finish events by `actionfeed.ActionFeed`).

Four views of the same event stream: a rich live panel for people at a terminal
(phase, per-host current task, ok/changed/failed counts); one plain line per phase and
per action start/finish with times (`ActionLines`, the default without a terminal, so a
CI log shows progress instead of minutes of silence); one JSON object per line for
machines (`--format json`), each with its time and action id; and one line per phase
only (`--quiet`, the least). None prints task results: they can be large, and the run
record keeps them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from provision.apply.actionfeed import ACTION_EVENTS
from provision.apply.runner import is_changed

_COUNTED = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}


def summarize_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The small, secret-free projection of an event used by both views."""
    if event.get("event") in ACTION_EVENTS:
        return dict(event)
    data = event.get("event_data") or {}
    out: dict[str, Any] = {"event": event.get("event"), "counter": event.get("counter")}
    for key in ("time", "action"):
        if event.get(key):
            out[key] = event[key]
    for key in ("play", "task", "host"):
        if data.get(key):
            out[key] = data[key]
    res = data.get("res")
    if isinstance(res, Mapping):
        if event.get("event") == "runner_on_ok":
            out["changed"] = is_changed(event)
        if event.get("event") in ("runner_on_failed", "runner_on_unreachable"):
            out["msg"] = "output hidden (no_log)" if res.get("censored") else str(res.get("msg") or "")[:500]
    return out


class JsonLines:
    """One JSON line per event (for `--format json`), each with `time` and, for a task or
    action event, `action` (the plan action id)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def __enter__(self) -> JsonLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def __call__(self, event: Mapping[str, Any]) -> None:
        if event.get("event") in ("verbose", "runner_on_start", "playbook_on_task_start") and not (
            event.get("event_data") or {}
        ).get("task"):
            return
        self.stream.write(json.dumps(summarize_event(event), sort_keys=True) + "\n")
        self.stream.flush()


class PhaseLines:
    """One plain text line per play as it starts (for `--quiet`): the phase and what it does.

    Ansible announces a `serial: 1` play once per batch; repeats of the same play are
    printed once.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self._last = ""

    def __enter__(self) -> PhaseLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def __call__(self, event: Mapping[str, Any]) -> None:
        if event.get("event") != "playbook_on_play_start":
            return
        data = event.get("event_data") or {}
        play = str(data.get("play") or data.get("name") or "")
        if not play or play == self._last:
            return
        self._last = play
        self.stream.write(f"{play}\n")
        self.stream.flush()


def _clock(when: object) -> str:
    """HH:MM:SS of an ISO time stamp (UTC as ansible-runner writes it)."""
    text = str(when or "")
    return text[11:19] if len(text) >= 19 else text


class ActionLines:
    """Plain lines for a log without a terminal: each phase as it starts, and each action
    as it starts and as it ends, with the time, its step out of the total and, at the end,
    how long it took. Nothing is redrawn, so the lines read well in a CI job's log."""

    _MARK = {"action_start": "start", "action_done": "done ", "action_failed": "FAILED"}

    def __init__(self, stream: IO[str] | None = None, total_actions: int = 0) -> None:
        self.stream = stream or sys.stdout
        self.total = total_actions
        self._phases = PhaseLines(self.stream)
        self._step: dict[str, int] = {}

    def __enter__(self) -> ActionLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def __call__(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("event", ""))
        if kind == "playbook_on_play_start":
            self._phases(event)
            return
        if kind not in self._MARK:
            return
        aid = str(event.get("action"))
        step = self._step.setdefault(aid, len(self._step) + 1)
        count = f"[{step}/{self.total}]" if self.total else f"[{step}]"
        line = (f"{_clock(event.get('time'))}  {self._MARK[kind]}  {count} {event.get('kind')} "
                f"{event.get('address')} on {event.get('node')}")
        if kind != "action_start" and event.get("seconds") is not None:
            line += f" ({float(event['seconds']):.1f}s)"
        self.stream.write(line + "\n")
        self.stream.flush()


class LivePanel:
    """A rich live view: current play, what each host is doing, and the counts."""

    def __init__(self, console: Console | None = None, total_actions: int = 0) -> None:
        self.console = console or Console(stderr=True)
        self.play = ""
        self.hosts: dict[str, str] = {}
        self.counts = {"ok": 0, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 0}
        self.total_actions = total_actions
        self.started = time.monotonic()
        self._live = Live(self._render(), console=self.console, refresh_per_second=8, transient=False)

    def __enter__(self) -> LivePanel:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.update(self._render())
        self._live.__exit__(None, None, None)

    def __call__(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("event", ""))
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self.play = str(data.get("play") or "")
            self.hosts = {}
        elif kind == "runner_on_start":
            self.hosts[str(data.get("host"))] = str(data.get("task") or "")
        elif kind in _COUNTED:
            name = _COUNTED[kind]
            if kind == "runner_on_ok" and is_changed(event):
                name = "changed"
            if kind == "runner_on_failed" and data.get("ignore_errors"):
                name = "ok"
            self.counts[name] += 1
            host = str(data.get("host"))
            if name == "failed":
                self.hosts[host] = "FAILED: " + str(data.get("task") or "")
        self._live.update(self._render())

    def _render(self) -> Group:
        table = Table(show_header=True, header_style="bold", expand=False, box=None)
        table.add_column("host")
        table.add_column("task")
        for host, task in sorted(self.hosts.items()):
            table.add_row(host, Text(task, style="red" if task.startswith("FAILED") else ""))
        c = self.counts
        line = Text.assemble(
            (f"{time.monotonic() - self.started:6.1f}s  ", "dim"),
            (f"ok {c['ok']}  ", "green"),
            (f"changed {c['changed']}  ", "yellow"),
            (f"failed {c['failed'] + c['unreachable']}  ", "red"),
            (f"skipped {c['skipped']}", "dim"),
        )
        return Group(Text(self.play or "starting…", style="bold cyan"), table, line)
