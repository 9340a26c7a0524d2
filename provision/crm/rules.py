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

__all__ = ["CompiledRules", "DroppedRule", "Motion", "NodeAffinity", "compile_rules", "resource_motion"]


@dataclass(frozen=True)
class NodeAffinity:
    """Where one resource may run: node -> priority, and a label for explanations."""

    nodes: Mapping[str, int]
    strict: bool
    label: str


@dataclass(frozen=True)
class DroppedRule:
    """A rule the CRM ignores, with PVE's reason (``Drop rule '<rule>', because ...``).

    ``option`` is the property PVE blames: the key of the rules API's ``errors`` object.
    """

    rule: str
    reason: str
    option: str = "resources"

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
    """A node-affinity rule while it is being transformed (resources may grow, a negative
    rule is inverted)."""

    name: str
    resources: set[str]
    nodes: dict[str, int]
    strict: bool
    label: str
    negative: bool = False

    def effective_nodes(self, cluster_nodes: Sequence[str]) -> dict[str, int]:
        """The nodes the rule lets its resources use: a negative rule's complement in the
        cluster, every node at priority 0 (NodeAffinity.pm ``invert_negative_node_affinity_rules``)."""
        if not self.negative:
            return self.nodes
        return {n: 0 for n in cluster_nodes if n not in self.nodes}


@dataclass
class _RA:
    name: str
    resources: set[str]
    positive: bool


Errors = dict[str, dict[str, list[str]]]


def compile_rules(config: HAConfig, services: Iterable[Service], cluster_nodes: Sequence[str]) -> CompiledRules:
    """Compile ``config`` for ``services`` on a cluster made of ``cluster_nodes``."""
    services = list(services)
    node_rules = _group_rules(config, services)
    resource_rules: list[_RA] = []
    for rule in config.rules:
        if rule.disabled:  # foreach_rule(exclude_disabled_rules => 1) everywhere
            continue
        if isinstance(rule, NodeAffinityRule):
            negative = rule.affinity == "negative"
            kind = f"{'strict ' if rule.strict else ''}{'negative ' if negative else ''}node-affinity"
            node_rules.append(_NA(rule.name, set(rule.resources), dict(rule.nodes), rule.strict,
                                  f"{kind} rule {rule.name}", negative))
        elif isinstance(rule, ResourceAffinityRule):
            resource_rules.append(_RA(rule.name, set(rule.resources), rule.affinity == "positive"))

    errors = feasibility_errors(node_rules, resource_rules, cluster_nodes)
    node_rules = [r for r in node_rules if r.name not in errors]
    resource_rules = [r for r in resource_rules if r.name not in errors]

    # Transforms, in registration order: node-affinity, resource-affinity, global.
    for na in node_rules:
        na.nodes, na.negative = na.effective_nodes(cluster_nodes), False
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

    return CompiledRules(
        node_affinity=node_affinity,
        positive=_relations(positives),
        negative=_relations(negatives),
        failback=failback,
        dropped=dropped_rules(errors),
    )


def dropped_rules(errors: Errors) -> tuple[DroppedRule, ...]:
    """The CRM's log order (``Rules.pm`` ``transform``): by rule id, then option, then
    in the order the checks found them."""
    return tuple(DroppedRule(rule, reason, option) for rule in sorted(errors)
                 for option in sorted(errors[rule]) for reason in errors[rule][option])


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


def feasibility_errors(nas: Sequence[_NA], ras: Sequence[_RA], cluster_nodes: Sequence[str]) -> Errors:
    """Every check upstream registers, in its order, each run against the same unpruned
    rule set (``Rules.pm`` ``check_feasibility``): rule -> option -> reasons. Every rule
    involved in a conflict is blamed, so all of them are dropped."""
    errors: Errors = {}

    def add(rule: str, reason: str, option: str = "resources") -> None:
        errors.setdefault(rule, {}).setdefault(option, []).append(reason)

    # NodeAffinity.pm: check_single_resource_reference (one message per shared resource).
    owners: dict[str, list[str]] = {}
    for na in nas:
        for sid in na.resources:
            owners.setdefault(sid, []).append(na.name)
    shared = sorted((name, sid) for sid, names in owners.items() if len(names) > 1 for name in names)
    for name, sid in shared:
        add(name, f"resource '{sid}' is already used in another node affinity rule")
    # NodeAffinity.pm (>= 5.2.5): check_nonempty_negative_nodes_complement, check_unprioritized_negative_nodes.
    for na in sorted((na for na in nas if na.negative), key=lambda r: r.name):
        if len(na.nodes) >= len(cluster_nodes):
            add(na.name, "negative node affinity rule must not specify all cluster nodes", "nodes")
    for na in sorted((na for na in nas if na.negative), key=lambda r: r.name):
        if any(na.nodes.values()):
            add(na.name, "negative node affinity rule must not specify node priorities", "nodes")

    # ResourceAffinity.pm
    positives = [r for r in ras if r.positive]
    negatives = [r for r in ras if not r.positive]
    for ra in sorted(ras, key=lambda r: r.name):
        if len(ra.resources) < 2:
            add(ra.name, "rule is ineffective as there are less than two resources")
    for neg in sorted(negatives, key=lambda r: r.name):
        if len(neg.resources) > len(cluster_nodes):
            add(neg.name, "rule defines more resources than available nodes")
    for conflict_kind, name in _sorted_conflicts(
        [("negative", neg.name), *(("positive", n) for n in names)]
        for resources, names in disjoint_resource_sets(positives)
        for neg in negatives if len(resources & neg.resources) >= 2
    ):
        other = "positive" if conflict_kind == "negative" else "negative"
        add(name, f"rule shares two or more resources with a {other} resource affinity rule")

    # Rules.pm: the global checks between node and resource affinity.
    def effective(na: _NA) -> dict[str, int]:
        return na.effective_nodes(cluster_nodes)

    conflicts: list[list[tuple[str, str]]] = []
    for ra in ras:
        paired = [na for na in nas if na.resources & ra.resources]
        if any(len(set(effective(na).values())) > 1 for na in paired):
            conflicts.append([("resource-affinity", ra.name), *(("node-affinity", na.name) for na in paired)])
    for kind, name in _sorted_conflicts(conflicts):
        add(name, "resources are in node affinity rules with multiple priorities" if kind == "resource-affinity" else
            "resources are in a resource affinity rule and cannot be in a node affinity rule with multiple priorities")
    conflicts = []
    for resources, names in disjoint_resource_sets(positives):
        paired = [na for na in nas if na.resources & resources]
        if len(paired) > 1:
            conflicts.append([*(("positive", n) for n in names), *(("node-affinity", na.name) for na in paired)])
    for kind, name in _sorted_conflicts(conflicts):
        add(name, "resources are in multiple node affinity rules" if kind == "positive" else
            "at least one resource is in a positive resource affinity rule and there are other resources in at "
            "least one other node affinity rule already")
    conflicts = []
    for neg in negatives:
        paired = [na for na in nas if na.resources & neg.resources]
        located: set[str] = set()
        allowed: set[str] = set()
        for na in paired:
            located |= na.resources & neg.resources
            allowed |= set(effective(na))
        if len(allowed) < len(located):
            conflicts.append([("negative", neg.name), *(("node-affinity", na.name) for na in paired)])
    for kind, name in _sorted_conflicts(conflicts):
        add(name, "two or more resources are restricted to less nodes than available to the resources"
            if kind == "negative" else
            "at least one resource is in a negative resource affinity rule and this rule would restrict these to "
            "less nodes than available to the resources")
    return errors


def _sorted_conflicts(groups: Iterable[list[tuple[str, str]]]) -> list[tuple[str, str]]:
    """Upstream's checks return their conflicts as one list sorted by (kind, rule id)."""
    return sorted(pair for group in groups for pair in group)


def disjoint_resource_sets(positives: Sequence[_RA]) -> list[tuple[set[str], list[str]]]:
    """``Rules/Helpers.pm`` ``find_disjoint_rules_resource_sets``: rules sorted by their
    lowest resource id (then by id), each merged into the first set it overlaps, else a
    set of its own. Greedy, as upstream: a later rule that bridges two sets joins only
    the first, and the check and merge results follow that."""
    ordered = sorted(sorted(positives, key=lambda r: r.name), key=lambda r: min(r.resources, default=""))
    sets: list[tuple[set[str], list[str]]] = []
    for rule in ordered:
        for resources, names in sets:
            if resources & rule.resources:
                resources |= rule.resources
                names.append(rule.name)
                break
        else:
            sets.append((set(rule.resources), [rule.name]))
    return sets


def _merge_positive(ras: Sequence[_RA]) -> list[_RA]:
    """Overlapping positive rules become one (``_merged-a-b``), as upstream's transform does."""
    out = []
    for resources, names in disjoint_resource_sets([r for r in ras if r.positive]):
        name = names[0] if len(names) == 1 else "_merged-" + "-".join(names)
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


@dataclass(frozen=True)
class Motion:
    """What a ``migrate``/``relocate`` of one resource to ``target`` does under its
    resource-affinity rules: refused while a resource kept apart from it is on (or
    moving to) ``target``; otherwise the resources kept together with it move along."""

    blocking: tuple[str, ...]
    comigrated: tuple[str, ...]


def resource_motion(
    compiled: CompiledRules, sid: str, target: str, status: Mapping[str, tuple[str | None, str | None]]
) -> Motion:
    """``Manager.pm`` ``queue_resource_motion``: ``status`` is sid -> (node, moving-to) for
    every service the CRM tracks (ignored ones are absent). A partner with no node or
    target counts as a match, as upstream's ``next if $node && $node ne $target`` does."""
    blocking = []
    for other in sorted(compiled.negative.get(sid, ())):
        if other not in status:
            continue
        node, moving_to = status[other]
        if (not node or node == target) and (not moving_to or moving_to == target):
            blocking.append(other)
    comigrated = []
    for other in sorted(compiled.positive.get(sid, ())):
        if other not in status:
            continue
        node, moving_to = status[other]
        if node != target and moving_to != target:
            comigrated.append(other)
    return Motion(tuple(blocking), tuple(comigrated))
