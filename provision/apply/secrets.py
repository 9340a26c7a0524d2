"""Reading the secrets a rendered run needs, before anything runs.

The run directory only names secrets (`env:NAME` / `file:PATH`); their values are
read here, into memory, and handed to the runner, which passes them to ansible-playbook
through its environment. A secret that cannot be read stops the apply before the lock
is taken, naming every object and field that needs one (all at once, so one fix round
is enough).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from provision.apply.errors import ApplyError
from provision.apply.render import RunDir
from provision.spec import SecretRef, SecretUnavailableError

# The action index and parameter in a run's secret key (`a001_password`, or the
# environment variable made of it, `PVE_PROVISION_SECRET_A001_PASSWORD`).
_USED_BY = re.compile(r"(?:^|_)a(\d+)_(\w+)$", re.I)


@dataclass(frozen=True)
class Secrets:
    """Values by run variable (never printed), and the environment variables they came
    from (blanked in Ansible's environment)."""

    values: dict[str, str]
    env_names: tuple[str, ...]


def resolve(run_dir: RunDir) -> Secrets:
    by_index = {ra.index: ra.action for ra in run_dir.actions}
    values: dict[str, str] = {}
    env_names: set[str] = set()
    missing: list[str] = []
    for var, desc in run_dir.secret_refs.items():
        kind, _, where = desc.partition(":")
        ref = SecretRef(env=where) if kind == "env" else SecretRef(file=Path(where))
        try:
            values[var] = ref.resolve()
        except SecretUnavailableError as exc:
            used = _USED_BY.search(var)
            action = by_index.get(int(used.group(1))) if used else None
            where_used = f"{action.address} {used.group(2).lower()}" if action is not None and used else var
            missing.append(f"  - {where_used}: {exc}")
        if kind == "env":
            env_names.add(where)
    if missing:
        raise ApplyError("secrets needed by this plan cannot be read (nothing was changed):\n" + "\n".join(missing))
    return Secrets(values=values, env_names=tuple(sorted(env_names)))


__all__ = ["Secrets", "resolve"]
