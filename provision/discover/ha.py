"""`/cluster/ha/groups`, `/cluster/ha/rules`, `/cluster/ha/resources`, and the HA
scheduler from `/cluster/options`.

Only keys present in the cfg files are returned; the defaults ha-manager applies
are filled in here, one comment per default (pve-facts 1.3-1.5, 4.1).
"""

from __future__ import annotations

from typing import Any

from provision.discover._values import as_bool, as_int, parse_priorities, split_list, strip_comment
from provision.spec.ha import HaGroup, HaResource, NodeAffinityRule, ResourceAffinityRule

MIGRATED_PREFIX = "ha-group-"


def normalise_crs(options: dict[str, Any] | None) -> str:
    """datacenter.cfg `crs: ha=...` as GET /cluster/options returns it (an object; absent
    means pve-cluster's default `basic`). Any other mode is passed on as it is, so a mode the
    spec does not know is reported by validation instead of being read as another one."""
    crs = (options or {}).get("crs")
    mode = crs.get("ha") if isinstance(crs, dict) else None
    return str(mode) if mode else "basic"


def normalise_groups(data: list[dict[str, Any]] | None) -> list[HaGroup]:
    out = [
        HaGroup(
            name=str(g.get("group")),
            nodes=parse_priorities(g.get("nodes")),
            restricted=as_bool(g.get("restricted")),  # default 0
            nofailback=as_bool(g.get("nofailback")),  # default 0
            comment=strip_comment(g.get("comment")),
        )
        for g in data or []
    ]
    return sorted(out, key=lambda g: g.name)


def normalise_rules(data: list[dict[str, Any]] | None) -> list[NodeAffinityRule | ResourceAffinityRule]:
    out: list[NodeAffinityRule | ResourceAffinityRule] = []
    for r in data or []:
        common: dict[str, Any] = {
            "name": str(r.get("rule")),
            "resources": split_list(r.get("resources"), ","),
            # present only when set; PVE's foreach_rule skips a rule whose `disable` key
            # exists at all, so a hand-written `disable 0` disables it too (Rules.pm)
            "disable": "disable" in r,
            "comment": strip_comment(r.get("comment")),
        }
        if r.get("type") == "node-affinity":
            out.append(NodeAffinityRule(
                type="node-affinity", nodes=parse_priorities(r.get("nodes")),
                strict=as_bool(r.get("strict")),  # default 0
                affinity=str(r.get("affinity") or "positive"),  # ha-manager >= 5.2.5; default positive
                **common,
            ))
        elif r.get("type") == "resource-affinity":
            out.append(ResourceAffinityRule(
                type="resource-affinity", affinity=str(r.get("affinity") or "positive"),
                **common,
            ))
    return sorted(out, key=lambda r: r.name)


def normalise_resources(data: list[dict[str, Any]] | None) -> list[HaResource]:
    out: list[HaResource] = []
    for r in data or []:
        state = str(r.get("state") or "started")  # default state is started
        extra: dict[str, Any] = {}
        if "failback" in r:
            # PVE 9 only writes `failback 0`; PVE 8 has no such key. Leaving it unset keeps
            # a discovered PVE 8 cluster valid (the spec refuses failback on PVE 8) and
            # compares as the default (1) either way.
            extra["failback"] = as_bool(r.get("failback"), True)
        out.append(HaResource(
            sid=str(r.get("sid")),
            state="started" if state == "enabled" else state,  # enabled = alias
            group=r.get("group") or None,
            max_restart=as_int(r.get("max_restart"), 1) or 0,  # default 1
            max_relocate=as_int(r.get("max_relocate"), 1) or 0,  # default 1
            comment=strip_comment(r.get("comment")),
            **extra,
        ))
    return sorted(out, key=lambda r: r.sid)


def migrated_group_rules(rules: list[NodeAffinityRule | ResourceAffinityRule]) -> list[NodeAffinityRule]:
    """PVE 9 turns each referenced HA group into node-affinity rule `ha-group-<name>`."""
    return [r for r in rules if isinstance(r, NodeAffinityRule) and r.name.startswith(MIGRATED_PREFIX)]
