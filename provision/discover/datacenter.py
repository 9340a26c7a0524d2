"""datacenter.cfg options from `GET /cluster/options`, into the spec's shapes.

PVE's reader (pve-cluster `src/PVE/DataCenterConfig.pm` parse_datacenter_config) returns
`crs`, `ha`, `migration` and `next-id` as objects but `bwlimit` as the text it was written
with, and only what the file holds: an option left out is `None` here (no default filled
in), so `provision import` writes back exactly what the cluster has set and the diff
compares a stack's value with PVE's default where the file is silent
(`provision.spec.hapolicy.PVE_DEFAULTS`).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from provision.discover._values import as_bool, as_int
from provision.spec.datacenter import Bwlimit, Datacenter, NextId
from provision.spec.hapolicy import AutoRebalance

_AUTO = {"threshold": "ha-auto-rebalance-threshold", "method": "ha-auto-rebalance-method",
         "hold_duration": "ha-auto-rebalance-hold-duration", "margin": "ha-auto-rebalance-margin"}


def property_string(value: Any) -> dict[str, Any]:
    """An option as an object: PVE returns most property strings parsed, `bwlimit` as text."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        return {}
    out: dict[str, Any] = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        if sep and key.strip():
            out[key.strip()] = val.strip()
    return out


def _number(value: Any) -> int | None:
    """A bwlimit or rebalance figure: PVE's type is `number`; the spec holds whole numbers."""
    if value is None or value == "":
        return None
    try:
        number = float(str(value))
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def normalise_policy(options: dict[str, Any] | None) -> dict[str, Any]:
    """`ha.shutdown_policy`, `ha.rebalance_on_start` and `ha.auto_rebalance` as set in the file."""
    opts = options or {}
    crs, ha = property_string(opts.get("crs")), property_string(opts.get("ha"))
    auto: AutoRebalance | None = None
    if "ha-auto-rebalance" in crs:
        values: dict[str, Any] = {"enabled": as_bool(crs.get("ha-auto-rebalance"))}
        for field, key in _AUTO.items():
            if key in crs:
                values[field] = crs[key] if field == "method" else _number(crs[key])
        try:
            auto = AutoRebalance.model_validate({k: v for k, v in values.items() if v is not None})
        except ValidationError:
            auto = None
    return {
        "shutdown_policy": ha.get("shutdown_policy") or None,
        "rebalance_on_start": as_bool(crs["ha-rebalance-on-start"]) if "ha-rebalance-on-start" in crs else None,
        "auto_rebalance": auto,
    }


def normalise_datacenter(options: dict[str, Any] | None) -> tuple[Datacenter, list[str]]:
    """The managed datacenter options and a note for each one the spec cannot hold."""
    opts = options or {}
    notes: list[str] = []
    values: dict[str, Any] = {}
    migration = property_string(opts.get("migration"))
    if migration:
        values["migration"] = {k: migration[k] for k in ("type", "network") if k in migration}
    if opts.get("email_from"):
        values["email_from"] = str(opts["email_from"])
    if opts.get("max_workers") not in (None, ""):
        values["max_workers"] = as_int(opts.get("max_workers"))
    bwlimit = property_string(opts.get("bwlimit"))
    if bwlimit:
        values["bwlimit"] = {k: _number(v) for k, v in bwlimit.items() if k in Bwlimit.model_fields}
    next_id = property_string(opts.get("next-id"))
    if next_id:
        values["next_id"] = {k: as_int(v) for k, v in next_id.items() if k in NextId.model_fields}
    kept: dict[str, Any] = {}
    for key, value in values.items():
        try:
            Datacenter.model_validate({key: value})
        except ValidationError as exc:
            err = exc.errors()[0]
            notes.append(f"datacenter.cfg {key} is not compared: {err['msg']} ({value!r})")
            continue
        kept[key] = value
    return Datacenter.model_validate(kept), notes


__all__ = ["normalise_datacenter", "normalise_policy", "property_string"]
