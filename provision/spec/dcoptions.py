"""The datacenter.cfg options a stack manages, by spec path, and their PVE names.

One table (`PVE_NAMES`) maps each spec path (`ha.crs`, `datacenter.migration.network`)
to its option and sub-key in datacenter.cfg (pve-cluster `src/PVE/DataCenterConfig.pm`);
the planner sends options with it and the lab seeds a cluster from a stack with it.
"""

from __future__ import annotations

from typing import Any

from provision.spec.cluster import Cluster
from provision.spec.datacenter import Bwlimit
from provision.spec.hapolicy import PVE_DEFAULTS, AutoRebalance

# spec path -> (PVE option, sub-key or None for a plain option)
_AUTO_KEYS = {"enabled": "ha-auto-rebalance", "threshold": "ha-auto-rebalance-threshold",
              "method": "ha-auto-rebalance-method", "hold_duration": "ha-auto-rebalance-hold-duration",
              "margin": "ha-auto-rebalance-margin"}
PVE_NAMES: dict[str, tuple[str, str | None]] = {
    "ha.crs": ("crs", "ha"),
    "ha.rebalance_on_start": ("crs", "ha-rebalance-on-start"),
    **{f"ha.auto_rebalance.{f}": ("crs", k) for f, k in _AUTO_KEYS.items()},
    "ha.shutdown_policy": ("ha", "shutdown_policy"),
    "datacenter.migration.type": ("migration", "type"),
    "datacenter.migration.network": ("migration", "network"),
    "datacenter.email_from": ("email_from", None),
    "datacenter.max_workers": ("max_workers", None),
    **{f"datacenter.bwlimit.{f}": ("bwlimit", f) for f in Bwlimit.model_fields},
    "datacenter.next_id.lower": ("next-id", "lower"),
    "datacenter.next_id.upper": ("next-id", "upper"),
}


def plain_value(value: Any) -> Any:
    return value if value is None or isinstance(value, (bool, int, str)) else str(value)


def _auto(auto: AutoRebalance | None) -> dict[str, Any]:
    value = auto if auto is not None else PVE_DEFAULTS["auto_rebalance"]
    assert isinstance(value, AutoRebalance)
    fields = AutoRebalance.model_fields if value.enabled else ("enabled",)
    return {f"ha.auto_rebalance.{f}": getattr(value, f) for f in fields}


def managed(cluster: Cluster) -> dict[str, Any]:
    """The options a stack manages, by spec path (`None` in the stack: not managed)."""
    ha, dc = cluster.ha, cluster.datacenter
    out: dict[str, Any] = {"ha.crs": ha.crs}
    for name in ("shutdown_policy", "rebalance_on_start"):
        if getattr(ha, name) is not None:
            out[f"ha.{name}"] = getattr(ha, name)
    if ha.auto_rebalance is not None:
        out.update(_auto(ha.auto_rebalance))
    if dc.migration is not None:
        out.update({f"datacenter.migration.{k}": plain_value(v) for k, v in dc.migration if v is not None})
    for name in ("email_from", "max_workers"):
        if getattr(dc, name) is not None:
            out[f"datacenter.{name}"] = getattr(dc, name)
    if dc.bwlimit is not None:
        out.update({f"datacenter.bwlimit.{k}": v for k, v in dc.bwlimit if v is not None})
    if dc.next_id is not None:
        out.update({f"datacenter.next_id.{k}": v for k, v in dc.next_id})
    return out



def pve_text(value: Any) -> str:
    """An option value as PVE's property strings write it (booleans 1/0)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)



def pve_option_values(cluster: Cluster) -> dict[str, str | dict[str, str]]:
    """Every managed option as PVE holds it: a plain value, or a property string's sub-keys."""
    out: dict[str, Any] = {}
    for path, value in sorted(managed(cluster).items()):
        option, sub = PVE_NAMES[path]
        if sub is None:
            out[option] = pve_text(value)
        else:
            out.setdefault(option, {})[sub] = pve_text(value)
    return out
