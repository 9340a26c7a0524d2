"""Reading the secrets a rendered run needs, before anything runs.

The run directory only names secrets (`env:NAME` / `file:PATH`); their values are
read here, into memory, and handed to the runner, which passes them to ansible-playbook
through its environment. A secret that cannot be read stops the apply before the lock
is taken, naming every object and field that needs one (all at once, so one fix round
is enough).

A reference that cannot be read where it points may also be supplied under its stable
run variable (`PVE_PROVISION_SECRET_<NAME>`, `render.secret_env_name`): that is how
AWX credential injectors and CI secret stores hand secrets to `provision apply` when
the stack's own variable or file does not exist on the machine that applies. The stack's
reference is read first, so setting the stable variable never changes an apply that
works without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provision.actions.values import SecretParam
from provision.apply.errors import ApplyError
from provision.apply.render import RunDir
from provision.spec import SecretRef, SecretUnavailableError


@dataclass(frozen=True)
class Secrets:
    """Values by run variable (never printed), and the environment variables they came
    from (blanked in Ansible's environment)."""

    values: dict[str, str]
    env_names: tuple[str, ...]


def _secret_fields(params: Any) -> list[tuple[str, str]]:
    """(field, reference) of every secret among an action's parameters."""
    out: list[tuple[str, str]] = []
    for name in type(params).model_fields:
        value = getattr(params, name)
        if isinstance(value, SecretParam):
            out.append((name, value.secret))
        elif isinstance(value, dict):
            out += [(k, v.secret) for k, v in value.items() if isinstance(v, SecretParam)]
    return out


def resolve(run_dir: RunDir) -> Secrets:
    """Read every secret of the run (keyed by its environment variable name)."""
    users: dict[str, list[str]] = {}
    for ra in run_dir.actions:
        for field, reference in _secret_fields(ra.action.params):
            users.setdefault(reference, []).append(f"{ra.action.address} {field}")
    values: dict[str, str] = {}
    env_names: set[str] = set()
    missing: list[str] = []
    for var, desc in run_dir.secret_refs.items():
        kind, _, where = desc.partition(":")
        ref = SecretRef(env=where) if kind == "env" else SecretRef(file=Path(where))
        try:
            values[var] = ref.resolve()
        except SecretUnavailableError as exc:
            if os.environ.get(var):
                values[var] = os.environ[var]
            else:
                missing.append(f"  - {', '.join(users.get(desc, [])) or var}: {exc} (or set {var})")
        if kind == "env":
            env_names.add(where)
    if missing:
        raise ApplyError("secrets needed by this plan cannot be read (nothing was changed):\n" + "\n".join(missing))
    return Secrets(values=values, env_names=tuple(sorted(env_names)))


__all__ = ["Secrets", "resolve"]
