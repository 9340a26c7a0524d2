"""Apply a plan: the public API of the apply package.

`apply(target, options, reporter)` runs the whole workflow (read and re-check the
plan, secrets, locks, playbooks, Ansible, run record, verify) and returns an
`ApplyOutcome`; refusals raise `ApplyError`. The CLI (`provision apply`) is one
front end of it; the modules below are its parts and are not meant to be imported
from outside the package.
The names below are imported on first use (`provision.lazy`): a front end that only
defines its `Reporter` does not load the workflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provision.lazy import lazy_attributes

if TYPE_CHECKING:
    from provision.apply.errors import ApplyError
    from provision.apply.lock import LockInfo
    from provision.apply.reporter import Reporter
    from provision.apply.runner import RunResult
    from provision.apply.workflow import (
        ApplyOptions,
        ApplyOutcome,
        apply,
        force_unlock,
        physical_nics,
        plan_id_of,
        state_dir,
    )

_HOME = {
    "ApplyError": "provision.apply.errors",
    "LockInfo": "provision.apply.lock",
    "RunResult": "provision.apply.runner",
    "ApplyOptions": "provision.apply.workflow",
    "ApplyOutcome": "provision.apply.workflow",
    "Reporter": "provision.apply.reporter",
    "apply": "provision.apply.workflow",
    "force_unlock": "provision.apply.workflow",
    "physical_nics": "provision.apply.workflow",
    "plan_id_of": "provision.apply.workflow",
    "state_dir": "provision.apply.workflow",
}

__getattr__ = lazy_attributes(__name__, _HOME)

__all__ = [
    "ApplyError",
    "ApplyOptions",
    "ApplyOutcome",
    "LockInfo",
    "Reporter",
    "RunResult",
    "apply",
    "force_unlock",
    "physical_nics",
    "plan_id_of",
    "state_dir",
]
