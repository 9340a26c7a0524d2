"""Run a rendered run directory with ansible-runner and say what happened.

Only ansible-runner's public surface is used (`run()`, `Runner.status`/`.rc`). A failed
playbook does not raise: the result is judged from `status`/`rc` and from the events.

Secrets: their values are resolved by the caller, in memory, and handed over in the
environment of ansible-playbook (`PVE_PROVISION_SECRET_*`, read by `lookup('env')` in
`no_log` tasks) with `suppress_env_files=True`, so ansible-runner never writes them to
`env/envvars`, and they never appear on a command line (which any local user can read
in /proc; a process environment only its owner can). ansible-runner still writes every
run's command line and full environment to `artifacts/<ident>/command` before it starts
ansible-playbook (ansible_runner/runner.py, `Runner.run`, no option turns it off). So:

- the artifact directory is a private 0700 temporary directory (RAM-backed `/dev/shm`
  where available), removed when the run ends, whatever way it ends (the caller turns
  SIGTERM/SIGHUP into a cancel, see signals.py, so `finally` always runs);
- the `command` file is deleted as soon as ansible-runner reports `running`, i.e.
  before ansible-playbook is even started, so not even a SIGKILL leaves it behind;
- Ansible's own temporary files (`ANSIBLE_LOCAL_TEMP`) go into that same directory,
  and modules are piped to their interpreter (`ANSIBLE_PIPELINING`) instead of being
  written as files that embed their arguments;
- the run record is written from the in-memory events instead of artifacts, and
  environment variables a secret was read from are blanked in Ansible's environment.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision.apply.render import RunDir

TASK_ACTION = re.compile(r"^Action (?P<id>\S+?): ")
INCLUDES = frozenset({"include_tasks", "ansible.builtin.include_tasks"})
"""A play's include of a node's own task file is not work on the node: Ansible's own
statistics leave it out (strategy/__init__.py, `TaskInclude`), and so does the tally."""
Event = dict[str, Any]


@dataclass
class Tally:
    """Per-task outcome counts over all hosts (skips caused by `when` included)."""

    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0

    @property
    def tasks(self) -> int:
        return self.ok + self.changed + self.failed + self.unreachable


@dataclass
class RunResult:
    status: str
    rc: int
    wall_seconds: float
    tally: Tally
    events: int
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)
    failure_messages: list[str] = field(default_factory=list)
    canceled: bool = False
    # Started but not finished (stopped or cut short by another node's failure): their
    # effect is unknown, some of it may be in place. Action id -> what is known.
    partial: list[str] = field(default_factory=list)
    progress: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Success means every action finished; a run that matched no hosts is a failure."""
        return (self.status == "successful" and self.rc == 0 and not self.failed and not self.not_done
                and not self.partial)


def is_changed(event: Mapping[str, Any]) -> bool:
    """Whether an ok event changed something. A no_log result is censored down to one key,
    so the display line ("changed: [host]") is the only place the flag survives."""
    res = (event.get("event_data") or {}).get("res") or {}
    if "changed" in res:
        return bool(res["changed"])
    return any(line.strip().startswith("changed:") for line in str(event.get("stdout") or "").splitlines())


class ActionTracker:
    """Follows events to tell, per plan action, whether it finished, failed, was cut
    short, or never started.

    An action is done when its last task has finished on its node (ok, changed, or
    skipped by its guard); task names carry the action's label (`Action 007: ...`),
    which the run directory maps back to the action id. It has started as soon as one
    of its tasks starts on its node (`runner_on_start`): a run stopped from then on may
    already have changed the node (an interfaces file moved into place, a node joined),
    so such an action is reported as partial, never as "not done" — unless every task
    of it that started also finished without a change (its guard or check ran, then
    another node's failure stopped the run before its command): nodes run side by side,
    and such an action did nothing.
    """

    def __init__(self, run_dir: RunDir) -> None:
        self._id = {ra.label: str(ra.action.id) for ra in run_dir.actions}
        self._batch = {first: [self._id[m] for m in members] for first, members in run_dir.batches.items()}
        """A batch task (named after its first action) stands for all its actions."""
        self._last_task = {str(ra.action.id): (ra.task_names[-1] if ra.task_names else "") for ra in run_dir.actions}
        self._host = {str(ra.action.id): ra.host for ra in run_dir.actions}
        self.order = [str(ra.action.id) for ra in run_dir.actions]
        self.done: set[str] = set()
        self.failed: set[str] = set()
        self.started: set[str] = set()
        self.finished_tasks: dict[str, list[tuple[str, bool]]] = {}
        self.running: dict[str, int] = {}
        """Tasks of an action that started and have not reported a result."""
        self.messages: list[str] = []
        self.output: list[str] = []
        self.tally = Tally()

    def feed(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("event", ""))
        data = event.get("event_data") or {}
        task = str(data.get("task") or "")
        host = str(data.get("host") or "")
        if data.get("task_action") in INCLUDES and kind in ("runner_on_ok", "runner_on_skipped"):
            return
        if kind == "runner_on_ok":
            if is_changed(event):
                self.tally.changed += 1
            else:
                self.tally.ok += 1
        elif kind == "runner_on_skipped":
            self.tally.skipped += 1
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            self.tally.failed += 1
        elif kind == "runner_on_unreachable":
            self.tally.unreachable += 1
        if kind in ("verbose", "warning", "error") and event.get("stdout"):
            self.output.append(str(event["stdout"]))
        match = TASK_ACTION.match(task)
        if not match:
            if kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
                self.messages.append(f"{host}: {task}: {_message(data)}")
            return
        action_id = self._id.get(match.group("id"), match.group("id"))
        if host and host != self._host.get(action_id):
            return
        if match.group("id") in self._batch:
            self._feed_batch(kind, task, host, event, self._batch[match.group("id")])
            return
        self._feed_action(kind, task, host, event, action_id)

    def _feed_batch(self, kind: str, task: str, host: str, event: Mapping[str, Any], members: list[str]) -> None:
        """A batch task's event, told per member: its result names the members that
        finished (`done`) and the one that failed (`failed_action`); the others never ran."""
        res = (event.get("event_data") or {}).get("res") or {}
        if kind not in ("runner_on_ok", "runner_on_failed") or not isinstance(res.get("done"), list):
            for aid in members:
                self._feed_action(kind, task, host, event, aid)
            return
        done = {self._id.get(str(label)) for label in res["done"]}
        ran = {self._id.get(str(label)) for label in res.get("ran") or []}
        failed = self._id.get(str(res.get("failed_action")))
        for aid in members:
            self.started.add(aid)
            self.running[aid] = max(0, self.running.get(aid, 0) - 1)
            if aid in done:
                self.finished_tasks.setdefault(aid, []).append((task, aid in ran))
                self.done.add(aid)
            elif aid == failed:
                self.failed.add(aid)
        if kind == "runner_on_failed":
            self.messages.append(f"{host}: {task}: {_message(event.get('event_data') or {})}")

    def _feed_action(self, kind: str, task: str, host: str, event: Mapping[str, Any], action_id: str) -> None:
        data = event.get("event_data") or {}
        if kind.startswith("runner_on_"):
            self.started.add(action_id)
        if kind == "runner_on_start":
            self.running[action_id] = self.running.get(action_id, 0) + 1
        elif kind in ("runner_on_ok", "runner_on_skipped", "runner_on_failed", "runner_on_unreachable"):
            self.running[action_id] = max(0, self.running.get(action_id, 0) - 1)
        if kind in ("runner_on_ok", "runner_on_skipped"):
            self.finished_tasks.setdefault(action_id, []).append((task, kind == "runner_on_ok" and is_changed(event)))
        if kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            self.failed.add(action_id)
            self.messages.append(f"{host}: {task}: {_message(data)}")
        elif kind in ("runner_on_ok", "runner_on_skipped") and task == self._last_task.get(action_id):
            self.done.add(action_id)

    def touched(self, action_id: str) -> bool:
        """Whether a started action may have changed something: a task of it changed, or
        one started and never reported back (stopped while it ran)."""
        return self.running.get(action_id, 0) > 0 or any(c for _, c in self.finished_tasks.get(action_id, []))

    def progress(self, action_id: str) -> str:
        """What is known of a partial action: how far it got."""
        tasks = self.finished_tasks.get(action_id, [])
        changed = sum(1 for _, c in tasks if c)
        if not tasks:
            return "stopped during its first task"
        last = TASK_ACTION.sub("", tasks[-1][0])
        return f"{len(tasks)} task(s) finished, {changed} changed; last finished: {last}"


# Ansible's own words for "the command failed", which say nothing of why.
_GENERIC_MSGS = frozenset({"non-zero return code", "failed", "MODULE FAILURE"})


def _tail(text: Any, lines: int = 3) -> str:
    kept = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return " / ".join(kept[-lines:])


def _message(data: Mapping[str, Any]) -> str:
    """Why a task failed, in PVE's words where there are some: a node command's stderr
    (`resource 'vm:104' does not exist in cluster`) is the cause; Ansible's `msg` for a
    command is only "non-zero return code", and is kept only when it says more."""
    res = data.get("res") or {}
    if res.get("censored"):
        return "failed (output hidden: no_log)"
    msg = str(res.get("msg") or "").strip()
    stderr = _tail(res.get("stderr"))
    text = ": ".join(part for part in (msg if msg not in _GENERIC_MSGS else "", stderr) if part)
    if not text:
        return _tail(res.get("stdout")) or msg or "failed"
    rc = res.get("rc")
    return f"{text} (exit {rc})" if stderr and rc not in (None, 0) else text


def _child_env(blank: tuple[str, ...]) -> dict[str, str]:
    """Ansible's environment additions: our interpreter's bin dir first on PATH (so the
    ansible-playbook that belongs to this installation runs), secret variables blanked."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    env = {"PATH": bin_dir + (os.pathsep + path if path else "")}
    env.update({name: "" for name in blank})
    return env


def _artifact_parent() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


# How often ansible-runner asks `cancel` while ansible-playbook runs (its default: 5 s).
CANCEL_POLL_SECONDS = 0.5


def _drop_command_file(artifacts: str, ident: str) -> Callable[..., None]:
    """A status handler that deletes ansible-runner's `command` artifact (the full
    environment, secrets included) when the run reaches `running`: ansible-runner has
    written it by then and does not read it again; ansible-playbook is not started yet."""

    def handler(status: Mapping[str, Any], **_: Any) -> None:
        if status.get("status") == "running":
            Path(artifacts, ident, "command").unlink(missing_ok=True)

    return handler


def run(
    run_dir: RunDir,
    *,
    secrets: Mapping[str, str],
    blank_env: tuple[str, ...] = (),
    check: bool = False,
    on_event: Callable[[Event], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> RunResult:
    """Run `project/site.yml` of `run_dir`; never raises for a failed playbook."""
    import ansible_runner

    tracker = ActionTracker(run_dir)
    count = 0

    def handle(event: Event) -> bool:
        nonlocal count
        count += 1
        tracker.feed(event)
        if on_event is not None:
            on_event(event)
        return False  # we keep events ourselves; ansible-runner need not write job_events

    artifacts = tempfile.mkdtemp(prefix="pve-provision-", dir=_artifact_parent())
    os.chmod(artifacts, 0o700)
    hosts = {ra.host for ra in run_dir.actions}
    envvars = _child_env(blank_env)
    envvars.update({"ANSIBLE_LOCAL_TEMP": str(Path(artifacts, "ansible-tmp")), "ANSIBLE_PIPELINING": "True"})
    envvars.update(secrets)  # keys are the stable variable names render chose (secret_env_name)
    start = time.monotonic()
    try:
        runner = ansible_runner.run(
            private_data_dir=str(run_dir.root),
            project_dir=str(run_dir.project),
            playbook="site.yml",
            inventory=str(run_dir.inventory / "hosts.yml"),
            ident=run_dir.plan_id,
            artifact_dir=artifacts,
            envvars=envvars,
            cmdline="--check --diff" if check else None,
            forks=max(1, len(hosts)),
            suppress_env_files=True,
            suppress_output_file=True,
            quiet=True,
            event_handler=handle,
            status_handler=_drop_command_file(artifacts, run_dir.plan_id),
            cancel_callback=cancel or (lambda: False),
            settings={"pexpect_timeout": CANCEL_POLL_SECONDS},
        )
        status, rc = str(runner.status), int(runner.rc if runner.rc is not None else 1)
    finally:
        shutil.rmtree(artifacts, ignore_errors=True)
    wall = time.monotonic() - start
    done = [a for a in tracker.order if a in tracker.done and a not in tracker.failed]
    failed = [a for a in tracker.order if a in tracker.failed]
    stopped = [a for a in tracker.order if a not in tracker.done and a not in tracker.failed]
    partial = [a for a in stopped if a in tracker.started and tracker.touched(a)]
    not_done = [a for a in stopped if a not in partial]
    if rc == 0 and status == "successful" and not_done and not failed:
        tracker.messages.append(
            f"{len(not_done)} action(s) never ran (no task of theirs reported back; host pattern not matched?)"
        )
    if rc != 0 and not tracker.messages:
        tail = [line for line in tracker.output if line.strip()][-3:]
        tracker.messages.append(f"ansible-playbook exited with {rc}" + (": " + " / ".join(tail) if tail else ""))
    return RunResult(
        status=status,
        rc=rc,
        wall_seconds=wall,
        tally=tracker.tally,
        events=count,
        done=done,
        failed=failed,
        not_done=not_done,
        failure_messages=tracker.messages,
        canceled=status == "canceled",
        partial=partial,
        progress={a: tracker.progress(a) for a in partial},
    )
