"""Apply a plan: the public API of the apply package.

`apply(target, options, reporter)` runs the whole workflow (read and re-check the
plan, secrets, locks, playbooks, Ansible, run record, verify) and returns an
`ApplyOutcome`; refusals raise `ApplyError`. The CLI (`provision apply`) is one
front end of it; the modules below are its parts and are not meant to be imported
from outside the package.
"""

from provision.apply.errors import ApplyError
from provision.apply.lock import LockInfo
from provision.apply.runner import RunResult
from provision.apply.workflow import (
    ApplyOptions,
    ApplyOutcome,
    Reporter,
    apply,
    force_unlock,
    physical_nics,
    plan_id_of,
    state_dir,
)

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
