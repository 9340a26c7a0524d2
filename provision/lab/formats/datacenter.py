"""``/etc/pve/datacenter.cfg`` as PVE reads and writes it (pve-cluster ``DataCenterConfig.pm``).

The file is plain ``key: value`` lines, but several values are *property strings*
(``bwlimit: default=100,move=80``, ``migration: secure,network=10.1.0.0/24``,
``ha: shutdown_policy=migrate``, ``crs: ha=static``). The reader turns those into dicts, the
writer turns them back the way PVE prints property strings: the default key's bare value first
(``migration``'s ``type``), then the other keys sorted. Keys are written sorted, after the
datacenter description (``#`` lines, percent-escaped like PVE's ``encode_text``) and one empty
line - so a file PVE wrote always starts with that empty line when there is no description.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from provision.lab.formats.errors import FormatError

__all__ = [
    "DEFAULT_KEYS",
    "PROPERTY_STRING_KEYS",
    "DatacenterError",
    "format_property_string",
    "parse",
    "parse_property_string",
    "write",
]


class DatacenterError(FormatError):
    """datacenter.cfg could not be read or a value cannot be written."""


#: keys whose values are property strings (pve-cluster's datacenter schema)
PROPERTY_STRING_KEYS = frozenset(
    {
        "bwlimit",
        "crs",
        "ha",
        "migration",
        "next-id",
        "notify",
        "replication",
        "tag-style",
        "u2f",
        "user-tag-access",
        "webauthn",
    }
)

#: property strings with a default key (written first, as a bare value)
DEFAULT_KEYS = {"migration": "type", "replication": "type"}

#: keys holding ``;``-separated lists
_LIST_KEYS = frozenset({"registered-tags"})


def parse_property_string(text: str, default_key: str | None = None) -> dict[str, str]:
    """``default=100,move=80`` -> ``{"default": "100", "move": "80"}``.

    A part without ``=`` is the value of ``default_key`` (``secure`` for ``migration``).
    """
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        m = re.match(r"^([^=]+)=(.+)$", part)
        if m:
            key, value = m.group(1), m.group(2)
        elif "=" not in part and default_key is not None:
            key, value = default_key, part
        else:
            raise DatacenterError(f"unable to parse property string part '{part}'")
        if key in out:
            raise DatacenterError(f"duplicate key in comma-separated list property: {key}")
        out[key] = value
    return out


def format_property_string(values: Mapping[str, Any], default_key: str | None = None) -> str:
    """Inverse of ``parse_property_string`` in PVE's order (default key bare, then sorted)."""

    def text(key: str, value: Any) -> str:
        out = str(int(value)) if isinstance(value, bool) else str(value)
        if "," in out:
            raise DatacenterError(f"illegal value with commas for {key}")
        return out

    parts: list[str] = []
    if default_key is not None and values.get(default_key) is not None:
        parts.append(text(default_key, values[default_key]))
    for key in sorted(values):
        if key != default_key and values[key] is not None:
            parts.append(f"{key}={text(key, values[key])}")
    return ",".join(parts)


def _decode_text(text: str) -> str:
    return urllib.parse.unquote(text, encoding="utf-8", errors="replace")


def _encode_text(text: str) -> str:
    safe = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ":%")
    return urllib.parse.quote(text, safe=safe, encoding="utf-8")


def parse(text: str) -> dict[str, Any]:
    """Read datacenter.cfg.

    Property-string values become ``dict[str, str]``, ``registered-tags`` a list, everything
    else stays a string; ``#`` lines become ``description`` (newline-joined, like PVE).
    """
    out: dict[str, Any] = {}
    description = ""
    for raw in text.split("\n"):
        if raw.startswith("#"):
            description += _decode_text(raw[1:]) + "\n"
            continue
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            continue
        m = re.match(r"^(\S+?):\s*(.*)$", line)
        if not m:
            raise DatacenterError(f"unable to parse config line: {line}")
        key, value = m.group(1), m.group(2)
        if key in PROPERTY_STRING_KEYS and value != "":
            out[key] = parse_property_string(value, DEFAULT_KEYS.get(key))
        elif key in _LIST_KEYS:
            out[key] = [v for v in value.split(";") if v]
        else:
            out[key] = value
    if description:
        out["description"] = description
    return out


def write(cfg: Mapping[str, Any]) -> str:
    """Write datacenter.cfg like PVE: description comments, an empty line, sorted keys."""
    head = "".join(f"#{_encode_text(line)}\n" for line in str(cfg.get("description") or "").split("\n") if line)
    lines: list[str] = []
    for key in sorted(k for k in cfg if k != "description"):
        value = cfg[key]
        if value is None:
            continue
        if isinstance(value, Mapping):
            text = format_property_string(value, DEFAULT_KEYS.get(key))
        elif isinstance(value, list):
            text = ";".join(sorted(str(v) for v in value))
        elif isinstance(value, bool):
            text = "1" if value else "0"
        else:
            text = str(value)
        if "\n" in text:
            raise DatacenterError(f"value of '{key}' contains a line feed")
        lines.append(f"{key}: {text}\n")
    return head + "\n" + "".join(lines)
