"""High availability: cluster size, placement (PVE 8 groups, PVE 9 rules) and the
feasibility tests ha-manager applies to rules (ha-manager.adoc "Rule Conflicts and
Errors"), plus capacity for failover."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from provision.crm.rules import DroppedRule
from provision.crm.shapes import infeasible_rules
from provision.rules.registry import Hit, Loc, rule
from provision.spec import Cluster, HaGroup, NodeAffinityRule


@dataclass(frozen=True)
class Placement:
    """Where a resource may run, as the CRM sees it."""

    nodes: frozenset[str]  # allowed cluster nodes (unknown names dropped)
    strict: bool  # only `nodes` (restricted group / strict rule)
    source: str | None  # "group web" / "rule licensed", None without one
    loc: Loc | None
    top: frozenset[str]  # the highest-priority class among `nodes`, where the CRM wants it
    failback: bool  # the CRM moves it to `top` even when it runs elsewhere


def _top(priorities: dict[str, int], known: set[str]) -> frozenset[str]:
    present = {n: p for n, p in priorities.items() if n in known}
    if not present:
        return frozenset()
    best = max(present.values())
    return frozenset(n for n, p in present.items() if p == best)


def _active_resources(c: Cluster) -> list[str]:
    return [r.sid for r in c.ha.resources if r.state != "ignored"]


def _node_rules(c: Cluster) -> list[tuple[int, NodeAffinityRule]]:
    """Enabled node-affinity rules as the CRM uses them: a negative rule becomes the
    nodes it does not list, each at priority 0 (pve-ha-manager >= 5.2.5 inverts it)."""
    out = []
    for i, r in enumerate(c.ha.rules):
        if isinstance(r, NodeAffinityRule) and not r.disable:
            if r.affinity == "negative":
                r = r.model_copy(update={"nodes": {n: 0 for n in c.node_names if n not in r.nodes},
                                         "affinity": "positive"})
            out.append((i, r))
    return out


def placement(c: Cluster, sid: str) -> Placement:
    """The allowed nodes of `sid` from its PVE 8 group or PVE 9 node-affinity rule."""
    known = set(c.node_names)
    res = c.ha.resource(sid)
    if res is not None and res.group is not None:
        for gi, group in enumerate(c.ha.groups):
            if group.name == res.group:
                nodes = frozenset(group.nodes) & known
                return Placement(nodes, group.restricted, f"group {group.name}", ("ha", "groups", gi),
                                 _top(group.nodes, known), not group.nofailback)
    for ri, node_rule in _node_rules(c):
        if sid in node_rule.resources:
            nodes = frozenset(node_rule.nodes) & known
            failback = res.failback if res is not None else True
            return Placement(nodes, node_rule.strict, f"rule {node_rule.name}", ("ha", "rules", ri),
                             _top(node_rule.nodes, known), failback)
    return Placement(frozenset(known), False, None, None, frozenset(known), False)


def _referenced_groups(c: Cluster) -> set[str]:
    return {r.group for r in c.ha.resources if r.group is not None}


def _strict_placements(c: Cluster) -> Iterator[tuple[Loc, HaGroup | NodeAffinityRule, str]]:
    """Restricted groups that resources use, and enabled strict node-affinity rules."""
    used = _referenced_groups(c)
    for gi, group in enumerate(c.ha.groups):
        if group.restricted and group.name in used:
            yield ("ha", "groups", gi), group, f"restricted group {group.name}"
    for ri, node_rule in _node_rules(c):
        if node_rule.strict:
            yield ("ha", "rules", ri), node_rule, f"strict rule {node_rule.name}"


@rule("PVE-HA001", "error", "HA resources on a cluster of fewer than 3 nodes without a QDevice")
def ha_small_cluster(c: Cluster) -> Iterator[Hit]:
    """ha-manager.adoc requires at least three nodes "to get reliable quorum". On
    two nodes without a QDevice, one failure costs quorum; the survivor, which holds
    active HA services, then fences *itself* after 60 seconds, so HA turns a
    single-node failure into a full outage.

    Fix: add a third node, or a QDevice (`quorum.qdevice`) for a 2+1 setup; otherwise
    do not use HA resources.
    """
    if len(c.nodes) < 3 and c.quorum.qdevice is None and _active_resources(c):
        yield Hit(("ha", "resources"),
                  f"HA resources on {len(c.nodes)} node(s) without a QDevice: when one node fails the other "
                  "loses quorum and fences itself",
                  "add a third node or a QDevice")


@rule("PVE-HA002", "error", "Restricted placement with no usable node")
def impossible_placement(c: Cluster) -> Iterator[Hit]:
    """A restricted group or strict node-affinity rule lets its resources run only
    on the listed nodes. If none of them is a node of this cluster (renamed or
    removed nodes, typos in a discovered config), the CRM finds no node and the
    resources stay stopped, or go to `error` on recovery.

    Fix: list existing nodes, or make the placement non-strict.
    """
    for loc, obj, what in _strict_placements(c):
        known = set(obj.nodes) & set(c.node_names)
        if not known:
            yield Hit((*loc, "nodes"), f"{what} allows only {', '.join(sorted(obj.nodes))}, none of which is a "
                      "cluster node: its resources can run nowhere",
                      f"list cluster nodes ({', '.join(c.node_names)})")


@rule("PVE-HA003", "warning", "Restricted placement on a single node")
def single_node_placement(c: Cluster) -> Iterator[Hit]:
    """A restricted group (PVE 8) or strict node-affinity rule (PVE 9) with one node
    pins its resources there: when that node fails they are not recovered at all,
    which defeats HA while still arming the watchdog.

    Fix: add a second node to the group/rule, or make it unrestricted/non-strict to
    express a preference instead.
    """
    for loc, obj, what in _strict_placements(c):
        known = sorted(set(obj.nodes) & set(c.node_names))
        if len(known) == 1:
            yield Hit((*loc, "nodes"), f"{what} allows only {known[0]}: its resources are not recovered when "
                      f"{known[0]} fails", "add a second node, or drop restricted/strict")


@rule("PVE-HA004", "info", "HA resource without placement")
def unplaced_resources(c: Cluster) -> Iterator[Hit]:
    """A resource in no group or rule may run on, and is recovered to, any node:
    recovery then piles onto the least-loaded node regardless of licences, local
    devices or keeping replicas of a service apart. That is valid, but worth a
    deliberate choice. When the stack places no resource at all, one finding covers
    them all.

    Fix: add the resource to a group (PVE 8) or a rule (PVE 9), or accept free
    placement (disable this rule).
    """
    in_rules = {sid for r in c.ha.rules if not r.disable for sid in r.resources}
    free = [(i, res) for i, res in enumerate(c.ha.resources)
            if res.state != "ignored" and res.group is None and res.sid not in in_rules]
    if not free:
        return
    if not c.ha.groups and not c.ha.rules:
        yield Hit(("ha", "resources"), f"no HA group or rule: {_plural_res(len(free))} may run on any node",
                  "add groups (PVE 8) or node-affinity rules (PVE 9) where placement matters")
        return
    for i, res in free:
        yield Hit(("ha", "resources", i), f"{res.sid} is in no HA group or rule: it may run on any node",
                  "add it to a group/rule")


def _plural_res(n: int) -> str:
    return f"{n} resource" + ("" if n == 1 else "s")


def _pve_drops(c: Cluster) -> list[tuple[int, DroppedRule]]:
    """The rules PVE's CRM would drop as infeasible, with its reasons: the checks the
    lab's HA manager applies too (``provision.crm``, after pve-ha-manager's ``Rules.pm``)."""
    if c.pve_version < 9:
        return []
    return infeasible_rules(c.ha.groups, c.ha.rules, c.ha.resources, c.node_names)


def _dropped_for(c: Cluster, reasons: tuple[str, ...], hint: str) -> Iterator[Hit]:
    for ri, d in _pve_drops(c):
        if d.reason.startswith(reasons):
            yield Hit(("ha", "rules", ri, d.option), f"PVE ignores rule {d.rule}: {d.reason}", hint)


_OWN_REASONS: dict[str, tuple[str, ...]] = {
    "PVE-HA005": ("rule defines more resources than available nodes",),
    "PVE-HA006": ("two or more resources are restricted to less nodes",
                  "at least one resource is in a negative resource affinity rule and this rule would restrict"),
    "PVE-HA007": ("rule shares two or more resources with a",),
    "PVE-HA008": ("resources are in node affinity rules with multiple priorities",
                  "resources are in a resource affinity rule and cannot be in a node affinity rule"),
    "PVE-HA009": ("resources are in multiple node affinity rules",
                  "at least one resource is in a positive resource affinity rule and there are other"),
}


@rule("PVE-HA005", "error", "Negative resource affinity with more resources than nodes")
def negative_too_many(c: Cluster) -> Iterator[Hit]:
    """A negative resource-affinity rule keeps its resources on different nodes. With
    more resources than nodes that cannot be satisfied; ha-manager's feasibility
    check disables the rule ("ignored (conflicts)"), so none of it is enforced.

    Fix: split the rule, or keep at most as many resources as nodes (fewer, to
    survive a node failure with the rule intact).
    """
    yield from _dropped_for(c, _OWN_REASONS["PVE-HA005"], "at most one resource per node")


@rule("PVE-HA006", "error", "Negative resource affinity restricted to too few nodes")
def negative_restricted(c: Cluster) -> Iterator[Hit]:
    """ha-manager.adoc: the resources of a negative rule "cannot be restricted to
    less nodes than HA resources by their node affinity rules". The nodes their
    node-affinity rules list (for a negative node-affinity rule: the nodes it does not
    list) must number at least the resources to separate; otherwise PVE ignores the
    negative rule and every node-affinity rule involved.

    Fix: widen the node-affinity rules of these resources, or drop resources from the
    negative rule.
    """
    yield from _dropped_for(c, _OWN_REASONS["PVE-HA006"], "allow at least as many nodes as resources")


@rule("PVE-HA007", "error", "Resources both together and apart")
def positive_negative_conflict(c: Cluster) -> Iterator[Hit]:
    """A positive rule keeps resources together and a negative rule keeps them apart;
    if two or more resources are in both (positive rules that share a resource count
    as one), PVE ignores all of these rules.

    Fix: remove the shared resources from one of the rules.
    """
    yield from _dropped_for(c, _OWN_REASONS["PVE-HA007"],
                            "a pair of resources can be kept together or apart, not both")


@rule("PVE-HA008", "error", "Resource affinity with a multi-priority node affinity")
def affinity_with_priorities(c: Cluster) -> Iterator[Hit]:
    """ha-manager only accepts a resource in both a node-affinity and a
    resource-affinity rule if the node-affinity rule has a single priority class;
    otherwise PVE ignores both rules.

    Fix: give the node-affinity rule one priority for all nodes, or take the
    resource out of one of the rules.
    """
    yield from _dropped_for(c, _OWN_REASONS["PVE-HA008"], "use one priority for every node of this rule")


@rule("PVE-HA009", "error", "Positive resource affinity across node-affinity rules")
def positive_split(c: Cluster) -> Iterator[Hit]:
    """Resources kept together must be able to run on the same node. PVE ignores a
    positive rule whose resources are in different node-affinity rules, and those
    node-affinity rules too.

    Fix: put all resources of the positive rule in the same node-affinity rule (or
    none).
    """
    yield from _dropped_for(c, _OWN_REASONS["PVE-HA009"], "use one node-affinity rule for all of them")


@rule("PVE-HA030", "error", "HA rule that PVE ignores as infeasible")
def other_infeasible(c: Cluster) -> Iterator[Hit]:
    """Every other feasibility check of pve-ha-manager: a resource in two enabled
    node-affinity rules, a resource-affinity rule with fewer than two resources, a
    negative node-affinity rule that lists every cluster node or gives node priorities
    (ha-manager >= 5.2.5). PVE keeps such a rule in rules.cfg but its CRM drops it
    ("ignored (conflicts)" in `ha-manager rules config`), so the stack would not do
    what it says.

    Fix: what PVE's reason says; or set `disable: true` to keep the rule switched off.
    """
    claimed = tuple(r for reasons in _OWN_REASONS.values() for r in reasons)
    for ri, d in _pve_drops(c):
        if not d.reason.startswith(claimed):
            yield Hit(("ha", "rules", ri, d.option), f"PVE ignores rule {d.rule}: {d.reason}",
                      "fix the rule, or disable it")


@rule("PVE-HA010", "info", "Node without capacity while HA resources exist")
def missing_capacity(c: Cluster) -> Iterator[Hit]:
    """`provision simulate` checks whether the remaining nodes can take the guests of
    a failed node; without `capacity` on a node it cannot, and this check
    (PVE-HA011) is skipped.

    Fix: set `capacity: {memory_mib, cores}` on every node.
    """
    if not _active_resources(c):
        return
    for i, node in enumerate(c.nodes):
        if node.capacity is None:
            yield Hit(("nodes", i), f"{node.name} has no capacity: failover capacity cannot be checked",
                      "set capacity: {memory_mib: ..., cores: ...}")


@rule("PVE-HA011", "warning", "HA guests do not fit after a node failure")
def failover_memory(c: Cluster) -> Iterator[Hit]:
    """HA recovers a failed node's guests on the others. If the memory of all started
    HA guests exceeds what the cluster has without its largest node, recovery fails
    (guests stay in `recovery`/`error`) or overcommits memory until the OOM killer
    intervenes.

    Fix: add memory or nodes, or take less important guests out of HA.
    """
    if not c.nodes or any(n.capacity is None for n in c.nodes) or not c.guests:
        return
    caps = [n.capacity.memory_mib for n in c.nodes if n.capacity is not None]
    started = {r.sid for r in c.ha.resources if r.state == "started"}
    need = sum(g.memory_mib for g in c.guests if g.sid in started)
    have = sum(caps) - max(caps)
    if need > have:
        yield Hit(("ha", "resources"), f"started HA guests need {need} MiB, but without its largest node the "
                  f"cluster has {have} MiB", "add memory/nodes or fewer HA guests")


@rule("PVE-HA012", "info", "HA will move a guest on takeover")
def guest_misplaced(c: Cluster) -> Iterator[Hit]:
    """When HA takes over a guest, the CRM selects a node for it at once: a guest on a
    node its restricted group or strict rule does not allow is migrated, and so is a
    guest below the highest-priority nodes of its group/rule when failback applies
    (PVE 8 `nofailback` unset, PVE 9 resource `failback` on). Apply would then move
    running guests, which is worth knowing before it happens.

    Fix: migrate the guest first, or adjust the group/rule priorities.
    """
    for i, res in enumerate(c.ha.resources):
        guest = c.guest(res.sid)
        if guest is None or res.state == "ignored":
            continue
        place = placement(c, res.sid)
        if place.source is None or not place.nodes:
            continue
        if place.strict and guest.node not in place.nodes:
            yield Hit(("ha", "resources", i), f"{res.sid} is on {guest.node}, outside {place.source} "
                      f"({', '.join(sorted(place.nodes))}): HA will migrate it",
                      "migrate it first or change the placement")
        elif place.failback and guest.node not in place.top:
            yield Hit(("ha", "resources", i), f"{res.sid} is on {guest.node}, but {place.source} prefers "
                      f"{', '.join(sorted(place.top))}: HA will migrate it there",
                      "migrate it first, or change the priorities")
