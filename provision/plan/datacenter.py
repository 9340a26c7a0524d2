"""datacenter.cfg: the stack's options against the cluster's, and the PVE option names.

One address, `datacenter`, covers every option of the file the stack manages: the HA
scheduler and policy (`ha.crs`, `ha.shutdown_policy`, `ha.rebalance_on_start`,
`ha.auto_rebalance`) and the `datacenter:` section. PVE changes them with one call
(`PUT /cluster/options`), so one action carries them all.

`ha.crs` is always compared (its default, basic, is PVE's); every other option is compared
only when the stack sets it, against the cluster's value or, where datacenter.cfg leaves the
option out, PVE's default (`provision.spec.hapolicy.PVE_DEFAULTS`, migration type secure,
the `next-id` range 100..1000000).
"""

from __future__ import annotations

from typing import Any

from provision.spec.addresses import Address
from provision.spec.cluster import Cluster
from provision.spec.datacenter import Bwlimit, Migration, NextId
from provision.spec.dcoptions import PVE_NAMES, managed, plain_value, pve_text
from provision.spec.hapolicy import PVE_DEFAULTS, AutoRebalance

ADDRESS = Address.of("datacenter")


def current(cluster: Cluster, paths: list[str]) -> dict[str, Any]:
    """The observed value of each path, PVE's default where the file has none."""
    ha, dc = cluster.ha, cluster.datacenter
    auto = {f"ha.auto_rebalance.{f}": getattr(ha.auto_rebalance or AutoRebalance(enabled=False), f)
            for f in AutoRebalance.model_fields}
    migration = dc.migration or Migration()
    next_id = dc.next_id or NextId()
    values: dict[str, Any] = {
        "ha.crs": ha.crs,
        "ha.shutdown_policy": ha.shutdown_policy or PVE_DEFAULTS["shutdown_policy"],
        "ha.rebalance_on_start": (ha.rebalance_on_start if ha.rebalance_on_start is not None
                                  else PVE_DEFAULTS["rebalance_on_start"]),
        **auto,
        "datacenter.migration.type": migration.type or "secure",
        "datacenter.migration.network": plain_value(migration.network),
        "datacenter.email_from": dc.email_from,
        "datacenter.max_workers": dc.max_workers,
        **{f"datacenter.bwlimit.{k}": getattr(dc.bwlimit, k) if dc.bwlimit else None for k in Bwlimit.model_fields},
        "datacenter.next_id.lower": next_id.lower,
        "datacenter.next_id.upper": next_id.upper,
    }
    return {p: values.get(p) for p in paths}


def wanted(cluster: Cluster) -> dict[str, Any]:
    """The options the stack manages (`provision.spec.dcoptions.managed`)."""
    return managed(cluster)


def pve_options(cluster: Cluster, paths: list[str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """For the options that hold any of `paths`: plain options to set, and for each
    property-string option every sub-key the stack manages (apply keeps the others)."""
    wanted = managed(cluster)
    touched = {PVE_NAMES[p][0] for p in paths}
    plain: dict[str, str] = {}
    merge: dict[str, dict[str, str]] = {}
    for path, value in sorted(wanted.items()):
        option, sub = PVE_NAMES[path]
        if option not in touched:
            continue
        if sub is None:
            plain[option] = pve_text(value)
        else:
            merge.setdefault(option, {})[sub] = pve_text(value)
    return plain, merge
