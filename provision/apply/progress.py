"""Progress of an apply, driven by ansible-runner events.

Three views of the same event stream: a rich live panel for people at a terminal
(phase, per-host current task, ok/changed/failed counts), one JSON object per line
for CI logs (`--output json`), where a redrawn panel would only produce noise, and one
plain line per phase (`--quiet`). None prints task results: they can be large, and the
run record keeps them.
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

from provision.apply.runner import is_changed

_COUNTED = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}


def summarize_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The small, secret-free projection of an event used by both views."""
    data = event.get("event_data") or {}
    out: dict[str, Any] = {"event": event.get("event"), "counter": event.get("counter")}
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
    """One JSON line per event (for `--output json` / `--quiet`)."""

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
