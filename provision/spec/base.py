"""Common base for every spec model.

All models forbid unknown keys (a typo in a stack file must be an error, not a
silently ignored setting) and every field carries a description, because the
descriptions become the JSON Schema that editors use for completion.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

# Control characters end up as line breaks in storage.cfg, corosync.conf or
# /etc/network/interfaces, where they would start a new option; no value needs one.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _no_bool(value: Any) -> Any:
    # pydantic's lax mode turns YAML `true` into 1; for a node id or a size that is a typo.
    if value.__class__ is bool:
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must be one line of text without control characters (newline, carriage return, NUL, ...)")
    return value


def _address_text(value: Any) -> Any:
    # pydantic reads an integer as an address (`true` would become 0.0.0.1); a stack
    # always writes addresses and networks as text.
    if isinstance(value, (bool, int, float)):
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        raise ValueError(f"expected an address written as text, like 10.0.0.11, got {shown}")
    return value


IPv4Address = Annotated[ipaddress.IPv4Address, BeforeValidator(_address_text)]
IPv4Interface = Annotated[ipaddress.IPv4Interface, BeforeValidator(_address_text)]
IPv4Network = Annotated[ipaddress.IPv4Network, BeforeValidator(_address_text)]
IPv6Address = Annotated[ipaddress.IPv6Address, BeforeValidator(_address_text)]
IPv6Interface = Annotated[ipaddress.IPv6Interface, BeforeValidator(_address_text)]

Int = Annotated[int, BeforeValidator(_no_bool)]
"""An integer spec field: YAML booleans are refused, not read as 0/1."""

Text = Annotated[str, AfterValidator(_one_line)]
"""A string spec field: one line, because every value ends up in a line-based PVE file."""


def _one_line_path(value: Path) -> Path:
    _one_line(str(value))
    return value


FilePath = Annotated[Path, AfterValidator(_one_line_path)]
"""A path spec field (CA file, SSH key): one line, as it reaches Ansible variables and argv."""


class SpecModel(BaseModel):
    """Base model: strict about unknown keys, friendly about YAML scalars."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        validate_default=True,
        use_attribute_docstrings=False,
    )


INT32_MAX = 2**31 - 1
"""Upper bound of counts and timings that PVE and the kernel keep as 32-bit integers."""

# Name patterns shared by several models. Proxmox node names are hostnames;
# configids (HA groups/rules, storage ids, pools) follow PVE's `pve-configid`.
PATTERN_TEXT: dict[str, str] = {}
"""Pattern -> what it allows, in words: a spec error says this instead of the regex."""


def described(pattern: str, text: str) -> str:
    """Register the words for `pattern` (they complete "VALUE is not ..."); returns it."""
    PATTERN_TEXT[pattern] = text
    return pattern


NODE_NAME = described(r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$",
                      "a valid node name: a hostname of 1 to 63 letters, digits and '-', "
                      "not starting or ending with '-'")
CONFIG_ID = described(r"^[a-zA-Z][a-zA-Z0-9_\-.]{0,63}$",
                      "a valid PVE id: 1 to 64 letters, digits, '-', '_' and '.', starting with a letter")
CLUSTER_NAME = described(r"^[A-Za-z0-9][A-Za-z0-9-]{0,14}$",
                         "a valid cluster name: at most 15 characters (corosync's limit), letters, digits "
                         "and '-', not starting with '-'")


def check_node_names(names: Iterable[str]) -> None:
    """For node names used as keys or list items, where `Field(pattern=...)` cannot reach."""
    for name in names:
        if not re.match(NODE_NAME, name):
            raise ValueError(f"{name!r} is not a valid node name")
