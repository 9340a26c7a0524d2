"""What a front end of apply implements: the `Reporter` it is told things through.

Its own module, without the workflow's imports, so that a front end can define its
reporter (the CLI's `CliReporter`) without loading Ansible's runner, the playbook
renderer and the planner; `provision apply --help` needs none of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provision.apply.lock import LockInfo
    from provision.discover import Endpoint

Event = dict[str, Any]
EventSink = Callable[[Event], None]

NETWORK_CONFIRM_SECONDS = 120
"""Default commit-confirm window: a node reverts its network this long after a reload
unless the controller confirmed it (`apply --network-confirm SECONDS`)."""


class Reporter:
    """What a front end sees of an apply. The defaults show nothing and approve only
    with `auto_approve` (a library caller that wants a prompt overrides `confirm`)."""

    def endpoint(self, endpoint: Endpoint) -> None:
        """Called before the first request (e.g. to warn about --insecure)."""

    def plan(self, document: Mapping[str, Any], *, from_file: bool) -> None:
        """The plan about to be applied (from_file: a stored plan, re-checked)."""

    def confirm(self, count: int) -> bool:
        return False

    def lock_taken(self, info: LockInfo, cluster: str) -> None:
        """Both locks are held."""

    def warning(self, text: str) -> None:
        """Something the person must know that does not change the outcome."""

    def running(self, total_actions: int) -> AbstractContextManager[EventSink | None]:
        """A display for the Ansible run, entered while it runs; yields an event sink."""
        return contextlib.nullcontext(None)

    def step(self, text: str) -> None:
        """A step of the apply outside Ansible (HA disarmed, armed again)."""


__all__ = ["NETWORK_CONFIRM_SECONDS", "Event", "EventSink", "Reporter"]
