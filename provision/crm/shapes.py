"""`HAConfig` from anything shaped like PVE's HA configuration sections.

The stack's models (for `simulate` and for the plan's guest-impact prediction) and the
lab's parsed config files carry groups and rules with the same fields PVE's
`groups.cfg` / `rules.cfg` have. Taking them by shape (protocols) lets each caller hand
over its own objects without this package importing any of them, and keeps one
conversion for everyone who predicts placement from a configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from provision.crm.model import Group, HAConfig, NodeAffinityRule, ResourceAffinityRule, Rule, Service
from provision.crm.rules import DroppedRule, compile_rules


class GroupShape(Protocol):
    """A PVE 8 HA group (`groups.cfg`)."""

    @property
    def name(self) -> str: ...
    @property
    def nodes(self) -> Mapping[str, int]: ...
    @property
    def restricted(self) -> bool: ...
    @property
    def nofailback(self) -> bool: ...


class RuleShape(Protocol):
    """A PVE 9 HA rule (`rules.cfg`): `type` is node-affinity or resource-affinity; the
    fields of the other type are simply absent."""

    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def resources(self) -> Sequence[str]: ...
    @property
    def disable(self) -> bool: ...


def ha_config(groups: Iterable[GroupShape], rules: Iterable[RuleShape]) -> HAConfig:
    """Groups and rules (in file order) as the placement functions take them."""
    out: list[Rule] = []
    for rule in rules:
        typed: Any = rule  # the fields of its own type (nodes/strict or affinity)
        if rule.type == "node-affinity":
            out.append(NodeAffinityRule(rule.name, frozenset(rule.resources), dict(typed.nodes),
                                        bool(typed.strict), rule.disable, getattr(typed, "affinity", "positive")))
        else:
            out.append(ResourceAffinityRule(rule.name, frozenset(rule.resources), typed.affinity,
                                            rule.disable))
    return HAConfig(groups=tuple(Group(g.name, dict(g.nodes), g.restricted, g.nofailback) for g in groups),
                    rules=tuple(out))


class ResourceShape(Protocol):
    """An HA resource (`resources.cfg`): its sid and PVE 8 group, if any."""

    @property
    def sid(self) -> str: ...
    @property
    def group(self) -> str | None: ...


def infeasible_rules(groups: Sequence[GroupShape], rules: Sequence[RuleShape], resources: Iterable[ResourceShape],
                     cluster_nodes: Sequence[str]) -> list[tuple[int, DroppedRule]]:
    """The rules (index in `rules`) PVE's CRM drops as infeasible, with its reasons, so a
    stack can refuse what PVE would silently ignore. Rules migrated from groups have no
    index and are left out (groups cannot conflict)."""
    services = [Service(r.sid, "", group=r.group) for r in resources]
    compiled = compile_rules(ha_config(groups, rules), services, cluster_nodes)
    index = {r.name: i for i, r in enumerate(rules)}
    return [(index[d.rule], d) for d in compiled.dropped if d.rule in index]


__all__ = ["GroupShape", "ResourceShape", "RuleShape", "ha_config", "infeasible_rules"]
