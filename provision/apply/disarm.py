"""`provision apply --disarm-ha freeze|ignore`: HA disarmed for the length of the change.

PVE 9 (pve-ha-manager 5.1.3) can disarm its HA stack cluster-wide for a maintenance
window: the CRM stops its state machine, every LRM releases its watchdog, and nothing is
fenced or recovered until it is armed again. An admin wants that while a change may
briefly cut nodes off (a network reload, a corosync link change): a node that drops out
for a few seconds must not be fenced for it. `freeze` pins every service where it is;
`ignore` takes them out of HA's hands altogether (PVE's docs and API give no default, and
neither does apply).

The window is an apply-time option, not part of the plan: it changes how the change is
made, not what the cluster ends up as, and a stored plan is applied with or without it.
The commands are `ha-manager crm-command disarm-ha MODE` and `arm-ha`, run as root on
one online node over the channel drills use (`crmcommand`), so the apply token keeps
needing no write privilege; the state is read through the API
(`/cluster/ha/status/manager_status`). Apply disarms after it holds the cluster lock and
before the first task, waits until the CRM reports `disarmed`, and arms again after the
last task on every way out (success, a failed task, a signal: the arm runs with signals
deferred), waiting until the CRM no longer reports a disarm. What happened, with times,
goes to the run record (`ha-disarm.json`) and to the output.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provision.apply.crmcommand import CrmCommandError
from provision.apply.errors import ApplyError
from provision.apply.signals import StopSignals
from provision.discover import DiscoveryError
from provision.discover.ha_status import ARM_COMMAND, PATH, Disarm, disarm_of

__all__ = ["MODES", "HaWindow", "disarmed", "refusal", "write_record"]

MODES = ("freeze", "ignore")
#: How long the CRM may take to report disarmed/armed. PVE's CRM and LRMs work in rounds
#: of about 10 s, and a disarm waits for migrations, fencing and recovery in progress.
WAIT_SECONDS = 300.0
POLL_SECONDS = 0.5
RECORD = "ha-disarm.json"

Get = Callable[[str], Any]
Run = Callable[[Sequence[str]], None]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class HaWindow:
    """The disarm window of one apply, as the run record keeps it (times in UTC)."""

    mode: str
    node: str  # where the CRM commands ran
    disarm_requested: str | None = None
    disarmed: str | None = None
    arm_requested: str | None = None
    armed: str | None = None
    problem: str | None = None  # set when HA may still be disarmed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def refusal(stack_version: int, version_at: str, live_version: int | None, current: Disarm | None) -> str | None:
    """Why `--disarm-ha` cannot be used here, if it cannot. `version_at` is FILE:LINE:COL
    of the stack's `pve_version`; `current` is the disarm the cluster reports now."""
    if stack_version < 9:
        return (f"{version_at}: pve_version {stack_version}: --disarm-ha needs PVE 9 (pve-ha-manager >= 5.1.3 "
                "added disarm-ha); PVE 8 cannot disarm HA")
    if live_version is not None and live_version < 9:
        return f"--disarm-ha needs PVE 9 (pve-ha-manager >= 5.1.3); the cluster runs PVE {live_version}"
    if current is not None:
        return (f"{current.describe()} already, by someone else: apply re-arms only what it disarmed itself, so it "
                f"will not take this one over; arm it first (`{ARM_COMMAND}`) or apply without --disarm-ha")
    return None


def _wait(get: Get, done: Callable[[Disarm | None], bool], check: Callable[[], None], timeout: float,
          poll: float) -> tuple[bool, Disarm | None]:
    """Poll the manager status until `done(disarm)`; (reached, last disarm seen)."""
    deadline = time.monotonic() + timeout
    last: Disarm | None = None
    while True:
        try:
            last = disarm_of(get(PATH))
            if done(last):
                return True, last
        except DiscoveryError:
            pass  # a flaky read: ask again until the deadline
        if time.monotonic() >= deadline:
            return False, last
        check()
        time.sleep(poll)
        check()


@contextmanager
def disarmed(mode: str, node: str, run: Run, get: Get, stop: StopSignals, step: Callable[[str], None], *,
             timeout: float = WAIT_SECONDS, poll: float = POLL_SECONDS) -> Iterator[HaWindow]:
    """Disarm HA, yield while it is disarmed, arm it again on every way out.

    Raises ApplyError (after arming again) when the disarm fails or the CRM does not
    report `disarmed` in time; a signal while waiting raises `Interrupted` the same way.
    A failed arm does not raise: `HaWindow.problem` says so, for the outcome."""
    window = HaWindow(mode=mode, node=node)
    current = disarm_of(get(PATH))
    if current is not None:  # disarmed since the plan was read: still someone else's
        raise ApplyError(str(refusal(9, "", None, current)))
    try:
        window.disarm_requested = _now()
        step(f"Disarming HA (resource-mode={mode}) on {node} before the first change.")
        try:
            with stop.deferred():  # a signal now stops the apply once the command is queued
                run(["disarm-ha", mode])
        except CrmCommandError as exc:
            raise ApplyError(f"cannot disarm HA: {exc}; nothing was changed") from None
        reached, last = _wait(get, lambda d: d is not None and d.state == "disarmed", stop.check, timeout, poll)
        if not reached:
            seen = last.describe() if last is not None else "HA armed"
            raise ApplyError(f"the HA manager did not report disarmed within {timeout:.0f}s (last seen: {seen}); "
                             "nothing was changed")
        window.disarmed = _now()
        step(f"HA disarmed (resource-mode={mode}): no fencing or recovery until apply arms it again.")
        yield window
    finally:
        if window.disarm_requested is not None:
            with stop.deferred(then_raise=False):
                _arm(window, run, get, step, timeout, poll)


def _arm(window: HaWindow, run: Run, get: Get, step: Callable[[str], None], timeout: float, poll: float) -> None:
    window.arm_requested = _now()
    step(f"Arming HA again on {window.node}.")
    try:
        run(["arm-ha"])
    except CrmCommandError as exc:
        window.problem = f"HA is still disarmed: {exc}; arm it with `{ARM_COMMAND}` on a node"
        step(f"error: {window.problem}")
        return
    reached, last = _wait(get, lambda d: d is None, lambda: None, timeout, poll)
    if not reached:
        seen = last.describe() if last is not None else "unknown"
        window.problem = (f"HA did not report armed within {timeout:.0f}s after arm-ha (last seen: {seen}); "
                          f"check `ha-manager status` and run `{ARM_COMMAND}` if it is still disarmed")
        step(f"error: {window.problem}")
        return
    window.armed = _now()
    step("HA armed again.")


def write_record(root: Path, window: HaWindow) -> Path:
    """`ha-disarm.json` in the run directory: the window with its times."""
    path = root / RECORD
    path.write_text(json.dumps(window.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
