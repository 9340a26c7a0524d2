"""Coercions for PVE API values.

The API returns booleans as 0/1, numbers parsed from text files as strings, and
lists as comma- or space-separated strings. Every normaliser goes through these
helpers so that a quirk is handled once, not guessed at in each module.
"""

from __future__ import annotations

import re
from typing import Any


def as_bool(value: Any, default: bool = False) -> bool:
    """0/1, "0"/"1", "yes"/"no", "on"/"off", true/false -> bool; missing -> default.

    A boolean inside a property string (`/cluster/options` `crs`: `ha-rebalance-on-start`)
    arrives as the number 1/0: PVE's reader maps it through parse_boolean (pve-common
    `src/PVE/JSONSchema.pm` master L1061-1066, L1114-1116; stable-bookworm L1029, L1084),
    whose Perl 1/0 the API encodes as JSON numbers; the proxmox-notify crate answers real
    JSON booleans (`disable`)."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    text = str(value).strip().lower()
    if text in ("1", "yes", "on", "true"):
        return True
    if text in ("0", "no", "off", "false"):
        return False
    return default


def as_int(value: Any, default: int | None = None) -> int | None:
    """Integers that may arrive as strings ("9000") or be missing."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        return default


def split_list(value: Any, seps: str = ", ;") -> list[str]:
    """`"eno1 eno2"`, `"a,b"`, `"a; b"` or a JSON list -> list of non-empty strings."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part for part in re.split(f"[{re.escape(seps)}]+", str(value).strip()) if part]


def parse_priorities(value: Any) -> dict[str, int]:
    """HA `nodes` strings: `"pve01:2,pve02:1,pve03"` -> {pve01: 2, pve02: 1, pve03: 0}.

    A node without a priority has priority 0 (ha-manager's default); the result is
    sorted by node name because PVE prints this list in hash order.
    """
    out: dict[str, int] = {}
    for item in split_list(value, ","):
        name, _, prio = item.partition(":")
        out[name.strip()] = as_int(prio, 0) or 0
    return dict(sorted(out.items()))


def strip_comment(value: Any) -> str | None:
    """Interface/HA comments come back with trailing newlines; empty means none."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None
