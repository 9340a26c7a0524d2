"""Stopping an apply: SIGINT (Ctrl-C), SIGTERM (CI cancel, `kill`) and SIGHUP (SSH drop)
all mean the same thing, "stop now, but clean up".

Python's defaults only turn SIGINT into an exception; SIGTERM and SIGHUP end the
process on the spot, so no `finally` runs: both locks stay held, no run record is
written, and ansible-runner's private artifact directory (which holds the environment,
secrets included) is never removed. While an apply holds anything, `StopSignals`
catches all three:

- while Ansible runs (`cancelling()`), the signal is only recorded; the runner polls
  `requested` and stops ansible-playbook through ansible-runner (it runs on its own pty
  and session, so a signal to our process group alone never reaches it);
- in a critical section (`deferred()`: taking or releasing a lock, writing the run
  record) it is recorded and raised when the section ends, so a lock is never half
  taken or half released;
- anywhere else it raises `Interrupted` at once (discovery, the prompt, verify).

Only the first signal counts; later ones (a second Ctrl-C, the SIGTERM a CI runner
sends after SIGHUP) are ignored so that the clean-up they would interrupt can finish.
Handlers can only be installed in the main thread; elsewhere the process keeps its
own handling and `requested` stays None.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


class Interrupted(BaseException):  # like KeyboardInterrupt: no `except Exception` swallows it
    """The apply was asked to stop by a signal; `name` says which (e.g. "SIGTERM")."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"interrupted ({name})")


class StopSignals:
    """Context manager: while active, SIGINT/SIGTERM/SIGHUP stop the apply as described above."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._raised = False
        self._defer = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested is not None:
            return  # only the first signal counts
        self.requested = _NAMES.get(signal.Signals(signum), signal.Signals(signum).name)
        if self._defer == 0:
            self.check()

    def check(self) -> None:
        """Raise `Interrupted` if a signal came and has not been raised yet."""
        if self.requested is not None and not self._raised:
            self._raised = True
            raise Interrupted(self.requested)

    def is_requested(self) -> bool:
        """For ansible-runner's cancel callback."""
        return self.requested is not None

    @contextmanager
    def deferred(self, *, then_raise: bool = True) -> Iterator[None]:
        """A critical section: a signal is recorded and raised only when it ends (or,
        with `then_raise=False`, only recorded: for clean-up after the outcome is known)."""
        self._defer += 1
        try:
            yield
        finally:
            self._defer -= 1
        if self._defer == 0 and then_raise:
            self.check()

    @contextmanager
    def cancelling(self) -> Iterator[None]:
        """While Ansible runs: a signal is only recorded (the runner polls it); the
        caller reports the interruption itself, so nothing is raised afterwards."""
        self._defer += 1
        try:
            yield
        finally:
            self._defer -= 1
            if self.requested is not None:
                self._raised = True


__all__ = ["HANDLED", "Interrupted", "StopSignals"]
