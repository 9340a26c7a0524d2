"""Value types shared by action parameters, and PVE's text form of a value.

Action parameters travel from the planner through plan files to Ansible. Each value
type here is validated where it is built and again where a plan file is read, so a
hand-edited plan cannot smuggle a newline into a config line or a flag into argv.
`pve_text` is the one place that turns a typed value into the text PVE's CLI takes
(booleans as 1/0, lists comma-separated, node priorities as `node:prio,node`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from provision.spec.base import CLUSTER_NAME, CONFIG_ID, NODE_NAME
from provision.spec.ha import SID


def no_control(value: str) -> str:
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise ValueError("control characters (newline, tab, NUL...) are not allowed in a PVE value")
    return value


def _no_flag(value: str) -> str:
    # A value that starts with '-' would be read as an option by PVE's CLI parser.
    if value.startswith("-"):
        raise ValueError("a value may not start with '-' (PVE's CLI would read it as an option)")
    return value


def _ip(value: str) -> str:
    return str(ipaddress.ip_address(value))


def _network(value: str) -> str:
    return str(ipaddress.ip_network(value, strict=False))


Text = Annotated[str, StringConstraints(max_length=4096), AfterValidator(no_control)]
"""Free text (comments) and option values: one line, no control characters."""
Arg = Annotated[str, StringConstraints(min_length=1, max_length=4096), AfterValidator(no_control),
                AfterValidator(_no_flag)]
"""A positional CLI argument or option value."""
NodeName = Annotated[str, StringConstraints(pattern=NODE_NAME)]
ConfigId = Annotated[str, StringConstraints(pattern=CONFIG_ID)]
ClusterName = Annotated[str, StringConstraints(pattern=CLUSTER_NAME)]
Sid = Annotated[str, StringConstraints(pattern=SID)]
DevPath = Annotated[str, StringConstraints(pattern=r"^/dev/[A-Za-z0-9_./:+-]+$")]
Ip = Annotated[str, AfterValidator(_ip)]
Network = Annotated[str, AfterValidator(_network)]
Host = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9.:-]{0,252})$")]
OptionName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
SecretDesc = Annotated[str, StringConstraints(pattern=r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:[^\x00-\x1f]+)$")]


class ParamModel(BaseModel):
    """Base of every parameter model: immutable, strict types, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, defer_build=True)


class SecretParam(ParamModel):
    """A secret as a plan carries it: only the reference, never the value."""

    secret: SecretDesc


def pve_text(value: Any) -> Any:
    """The text PVE's CLI takes for a value; containers keep their shape.

    None → None (the option is left out), bool → "1"/"0", numbers → digits, a list of
    scalars → comma-separated, a mapping of node → priority → PVE's `node:prio,node`
    (priority 0 printed bare, nodes sorted), models and lists of models → the same shape
    with every leaf as text.
    """
    if value is None or isinstance(value, SecretParam):
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return {k: pve_text(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, Mapping):
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
            return node_priorities(value)
        return {str(k): pve_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, BaseModel) for v in value):
            return [pve_text(v) for v in value]
        return ",".join(str(pve_text(v)) for v in value)
    raise TypeError(f"no PVE text form for {type(value).__name__}")


def node_priorities(value: Mapping[str, int]) -> str:
    """`{pve01: 2, pve02: 0}` → `pve01:2,pve02` (PVE prints priority 0 bare)."""
    return ",".join(f"{n}:{p}" if p else str(n) for n, p in sorted(value.items()))
