"""The one error type of the apply workflow.

Every refusal and failure that stops an apply before it has a result (stale plan,
destructive actions without permission, unreadable secret, lock held, interrupted
outside the Ansible run) is an `ApplyError` whose message is complete and readable
as it is; front ends print it after `error: ` and exit 1.
"""

from __future__ import annotations


class ApplyError(RuntimeError):
    """The apply was refused or stopped; the message says why and what to do."""


__all__ = ["ApplyError"]
