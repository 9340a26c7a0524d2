"""Turn groups and rules into what the scheduler consults, the way PVE 9's CRM does.

Upstream (``pve-ha-manager``: ``Groups.pm`` ``migrate_groups_to_rules``, ``Rules.pm``
``transform``/``compile``, ``Rules/NodeAffinity.pm``, ``Rules/ResourceAffinity.pm``) the
CRM master, every round:

1. turns each PVE 8 group that some resource references into a node-affinity rule
   ``ha-group-<group>`` (``strict`` = ``restricted``) and folds ``nofailback`` into the
   resource's ``failback``;
2. drops every enabled rule that fails a feasibility check (all checks look at the same,
   unpruned rule set, and every rule involved in a conflict is dropped);
3. merges overlapping positive resource-affinity rules, adds the negative relations a
   positive group inherits from any of its members, and extends a node-affinity rule to
   every resource kept together with one of its resources;
4. compiles per resource: allowed nodes with priorities (non-strict rules add every other
   cluster node at priority -1) and the resources to keep together / apart.

PVE 8 had no rules and no checks, but a resource has at most one group there, so the
checks never fire for a pure-groups configuration and one code path serves both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from provision.crm.model import HAConfig, NodeAffinityRule, ResourceAffinityRule, Service

__all__ = ["CompiledRules", "DroppedRule", "NodeAffinity", "compile_rules"]


@dataclass(frozen=True)
class NodeAffinity:
    """Where one resource may run: node -> priority, and a label for explanations."""

    nodes: Mapping[str, int]
    strict: bool
    label: str


@dataclass(frozen=True)
class DroppedRule:
    """A rule the CRM ignores, with PVE's reason (``Drop rule '<rule>', because ...``)."""

    rule: str
    reason: str

    @property
    def message(self) -> str:
        """The line the CRM logs for it."""
        return f"Drop rule '{self.rule}', because {self.reason}."


@dataclass(frozen=True)
class CompiledRules:
    """The scheduler's view of the configuration."""

    node_affinity: Mapping[str, NodeAffinity]
    positive: Mapping[str, frozenset[str]]
    negative: Mapping[str, frozenset[str]]
    failback: Mapping[str, bool]
    dropped: tuple[DroppedRule, ...]


@dataclass
class _NA:
    """A node-affinity rule while it is being transformed (resources may grow)."""

    name: str
    resources: set[str]
    nodes: dict[str, int]
    strict: bool
    label: str


@dataclass
class _RA:
    name: str
    resources: set[str]
    positive: bool


def compile_rules(config: HAConfig, services: Iterable[Service], cluster_nodes: Sequence[str]) -> CompiledRules:
    """Compile ``config`` for ``services`` on a cluster made of ``cluster_nodes``."""
    services = list(services)
    node_rules = _group_rules(config, services)
    resource_rules: list[_RA] = []
    for rule in config.rules:
        if rule.disabled:
            continue
        if isinstance(rule, NodeAffinityRule):
            label = f"{'strict ' if rule.strict else ''}node-affinity rule {rule.name}"
            node_rules.append(_NA(rule.name, set(rule.resources), dict(rule.nodes), rule.strict, label))
        elif isinstance(rule, ResourceAffinityRule):
            resource_rules.append(_RA(rule.name, set(rule.resources), rule.affinity == "positive"))

    errors = _feasibility_errors(node_rules, resource_rules, len(cluster_nodes))
    node_rules = [r for r in node_rules if r.name not in errors]
    resource_rules = [r for r in resource_rules if r.name not in errors]

    positives = _merge_positive(resource_rules)
    negatives = [r for r in resource_rules if not r.positive]
    negatives += _implicit_negatives(positives, negatives)
    for together in positives:
        for na in node_rules:
            if na.resources & together.resources:
                na.resources |= together.resources
                break

    node_affinity: dict[str, NodeAffinity] = {}
    for na in node_rules:
        nodes = dict(na.nodes)
        if not na.strict:
            for node in cluster_nodes:
                nodes.setdefault(node, -1)
        for sid in na.resources:
            node_affinity[sid] = NodeAffinity(nodes, na.strict, na.label)

    failback: dict[str, bool] = {}
    for svc in services:
        if svc.group is None:
            failback[svc.sid] = svc.failback
        else:
            # PVE 9 derives failback from the group for every resource naming one; a
            # dangling group reference gives failback=1, like PVE 8's default group.
            group = config.group(svc.group)
            failback[svc.sid] = group is None or not group.nofailback

    dropped = tuple(DroppedRule(rule, reason) for rule in sorted(errors) for reason in sorted(errors[rule]))
    return CompiledRules(
        node_affinity=node_affinity,
        positive=_relations(positives),
        negative=_relations(negatives),
        failback=failback,
        dropped=dropped,
    )


def _group_rules(config: HAConfig, services: Sequence[Service]) -> list[_NA]:
    """Groups referenced by at least one resource become node-affinity rules."""
    members: dict[str, set[str]] = {}
    for svc in services:
        if svc.group is not None and config.group(svc.group) is not None:
            members.setdefault(svc.group, set()).add(svc.sid)
    rules = []
    for name in sorted(members):
        group = config.group(name)
        assert group is not None
        label = f"{'restricted ' if group.restricted else ''}group {name}"
        rules.append(_NA(f"ha-group-{name}", members[name], dict(group.nodes), group.restricted, label))
    return rules


def _feasibility_errors(nas: list[_NA], ras: list[_RA], node_count: int) -> dict[str, set[str]]:
    """Every check upstream registers, each run against the same unpruned rule set."""
    errors: dict[str, set[str]] = {}

    def add(rule: str, reason: str) -> None:
        errors.setdefault(rule, set()).add(reason)

    # NodeAffinity: a resource may be in one node-affinity rule only.
    owners: dict[str, list[str]] = {}
    for na in nas:
        for sid in na.resources:
            owners.setdefault(sid, []).append(na.name)
    for sid, names in owners.items():
        if len(names) > 1:
            for name in names:
                add(name, f"resource '{sid}' is already used in another node affinity rule")

    positives = [r for r in ras if r.positive]
    negatives = [r for r in ras if not r.positive]
    for ra in ras:
        if len(ra.resources) < 2:
            add(ra.name, "rule is ineffective as there are less than two resources")
    for neg in negatives:
        if len(neg.resources) > node_count:
            add(neg.name, "rule defines more resources than available nodes")
    for component, names in _positive_components(positives):
        for neg in negatives:
            if len(component & neg.resources) >= 2:
                add(neg.name, "rule shares two or more resources with a positive resource affinity rule")
                for name in names:
                    add(name, "rule shares two or more resources with a negative resource affinity rule")

    # Global checks between node and resource affinity.
    for ra in ras:
        paired = [na for na in nas if na.resources & ra.resources]
        if any(len(set(na.nodes.values())) > 1 for na in paired):
            add(ra.name, "resources are in node affinity rules with multiple priorities")
            for na in paired:
                add(
                    na.name,
                    "resources are in a resource affinity rule and cannot be in a node affinity "
                    "rule with multiple priorities",
                )
    for component, names in _positive_components(positives):
        paired = [na for na in nas if na.resources & component]
        if len(paired) > 1:
            for name in names:
                add(name, "resources are in multiple node affinity rules")
            for na in paired:
                add(
                    na.name,
                    "at least one resource is in a positive resource affinity rule and there are "
                    "other resources in at least one other node affinity rule already",
                )
    for neg in negatives:
        paired = [na for na in nas if na.resources & neg.resources]
        located: set[str] = set()
        allowed: set[str] = set()
        for na in paired:
            located |= na.resources & neg.resources
            allowed |= set(na.nodes)
        if len(allowed) < len(located):
            add(neg.name, "two or more resources are restricted to less nodes than available to the resources")
            for na in paired:
                add(
                    na.name,
                    "at least one resource is in a negative resource affinity rule and this rule "
                    "would restrict these to less nodes than available to the resources",
                )
    return errors


def _positive_components(positives: Sequence[_RA]) -> list[tuple[set[str], list[str]]]:
    """Connected groups of overlapping positive rules: (resources, rule names in order).

    Upstream (``find_disjoint_rules_resource_sets``) merges greedily after sorting by
    lowest resource id, which can leave two overlapping groups apart in rare chains;
    this computes the true connected components, which is what "overlapping positive
    rules merge" means.
    """
    components: list[tuple[set[str], list[str]]] = []
    for rule in positives:
        merged_resources = set(rule.resources)
        merged_names = [rule.name]
        rest = []
        for resources, names in components:
            if resources & merged_resources:
                merged_resources |= resources
                merged_names = names + merged_names
            else:
                rest.append((resources, names))
        components = [*rest, (merged_resources, merged_names)]
    return components


def _merge_positive(ras: Sequence[_RA]) -> list[_RA]:
    """Overlapping positive rules become one (``_merged-a-b``), as upstream's transform does."""
    out = []
    for resources, names in _positive_components([r for r in ras if r.positive]):
        name = names[0] if len(names) == 1 else "_merged-" + "-".join(sorted(names))
        out.append(_RA(name, resources, positive=True))
    return out


def _implicit_negatives(positives: Sequence[_RA], negatives: Sequence[_RA]) -> list[_RA]:
    """Resources kept together inherit each member's "keep apart" relations."""
    out = []
    for pos in positives:
        separated_from: dict[str, set[str]] = {}
        for neg in negatives:
            for sid in pos.resources & neg.resources:
                for other in neg.resources - {sid}:
                    separated_from.setdefault(other, set()).add(sid)
        for other, already in sorted(separated_from.items()):
            for sid in sorted(pos.resources - already):
                out.append(_RA(f"_implicit-negative-{pos.name}-{sid}-{other}", {sid, other}, positive=False))
    return out


def _relations(rules: Sequence[_RA]) -> dict[str, frozenset[str]]:
    related: dict[str, set[str]] = {}
    for rule in rules:
        for sid in rule.resources:
            related.setdefault(sid, set()).update(rule.resources - {sid})
    return {sid: frozenset(others) for sid, others in related.items()}
