"""Rule checks and transforms of newer pve-ha-manager, and invariants of the feasibility checks.

Negative node affinity (ha-manager >= 5.2.5, the backend of pve-manager 9.2.6's "Avoid
Nodes"): cases re-express ``src/test/rules_cfgs/ineffective-negative-node-affinity-rules``,
``node-priority-in-negative-node-affinity-rules`` and
``negative-node-affinity-with-resource-affinity-rules`` (node1..node3). Greedy merging
of positive rules follows ``Rules/Helpers.pm`` ``find_disjoint_rules_resource_sets``.
"""

from __future__ import annotations

from crm_builders import apart, node_affinity, rules, together
from hypothesis import given, settings
from hypothesis import strategies as st

from provision.crm import HAConfig, NodeAffinityRule, ResourceAffinityRule, compile_rules
from provision.crm.rules import resource_motion

NODES = ["node1", "node2", "node3"]


def avoid(name: str, sids: list[str], prio: dict[str, int], strict: bool = False) -> NodeAffinityRule:
    return NodeAffinityRule(name, frozenset(sids), prio, strict=strict, affinity="negative")


def log(config: HAConfig) -> list[str]:
    return [d.message for d in compile_rules(config, [], NODES).dropped]


def test_negative_node_affinity_naming_every_node_is_dropped() -> None:
    config = rules(avoid("nonstrict-all", ["vm:101"], {n: 0 for n in NODES}),
                   avoid("strict-all", ["vm:102"], {n: 0 for n in NODES}, strict=True))
    assert log(config) == [
        "Drop rule 'nonstrict-all', because negative node affinity rule must not specify all cluster nodes.",
        "Drop rule 'strict-all', because negative node affinity rule must not specify all cluster nodes.",
    ]
    assert compile_rules(config, [], NODES).node_affinity == {}


def test_negative_node_affinity_with_priorities_is_dropped_and_zero_priorities_invert() -> None:
    config = rules(avoid("zero", ["vm:101"], {"node1": 0, "node2": 0}),
                   avoid("prioritised", ["vm:102"], {"node1": 2, "node2": 1}))
    compiled = compile_rules(config, [], NODES)
    assert [(d.rule, d.option, d.reason) for d in compiled.dropped] == [
        ("prioritised", "nodes", "negative node affinity rule must not specify node priorities")]
    assert dict(compiled.node_affinity["vm:101"].nodes) == {"node1": -1, "node2": -1, "node3": 0}


def test_negative_node_affinity_counts_its_complement_against_negative_resource_affinity() -> None:
    config = rules(
        avoid("vm1-not-on-node1", ["vm:1"], {"node1": 0}),
        avoid("vm2-not-on-node1", ["vm:2"], {"node1": 0}),
        apart("vm1-vm2-apart", "vm:1", "vm:2"),
        avoid("vm3-not-on-node2-node3", ["vm:3"], {"node2": 0, "node3": 0}),
        avoid("vm4-not-on-node2-node3", ["vm:4"], {"node2": 0, "node3": 0}),
        apart("vm3-vm4-apart", "vm:3", "vm:4"),
    )
    reason_na = ("at least one resource is in a negative resource affinity rule and this rule would restrict "
                 "these to less nodes than available to the resources")
    assert log(config) == [
        f"Drop rule 'vm3-not-on-node2-node3', because {reason_na}.",
        "Drop rule 'vm3-vm4-apart', because two or more resources are restricted to less nodes than available "
        "to the resources.",
        f"Drop rule 'vm4-not-on-node2-node3', because {reason_na}.",
    ]
    compiled = compile_rules(config, [], NODES)
    assert dict(compiled.node_affinity["vm:1"].nodes) == {"node1": -1, "node2": 0, "node3": 0}
    assert compiled.negative == {"vm:1": {"vm:2"}, "vm:2": {"vm:1"}}


def test_strict_negative_node_affinity_leaves_only_the_other_nodes() -> None:
    compiled = compile_rules(rules(avoid("never-node3", ["vm:1"], {"node3": 0}, strict=True)), [], NODES)
    assert dict(compiled.node_affinity["vm:1"].nodes) == {"node1": 0, "node2": 0}


def test_positive_rules_merge_greedily_by_lowest_resource() -> None:
    """Sorted by lowest resource: a(vm:1,vm:5), c(vm:2,vm:3), b(vm:3,vm:5). b joins the
    first set it overlaps (a's) and not c's, although it shares vm:3 with c: upstream
    leaves two sets, so vm:1 is not kept together with vm:2."""
    compiled = compile_rules(rules(together("a", "vm:1", "vm:5"), together("b", "vm:3", "vm:5"),
                                   together("c", "vm:2", "vm:3")), [], NODES)
    assert compiled.positive["vm:1"] == {"vm:3", "vm:5"}
    assert compiled.positive["vm:2"] == {"vm:3"}


def test_errors_name_the_property_pve_blames() -> None:
    config = rules(node_affinity("one", ["vm:1"], {"node1": 0}), node_affinity("two", ["vm:1"], {"node2": 0}),
                   avoid("everywhere", ["vm:2"], {n: 0 for n in NODES}))
    assert {(d.rule, d.option) for d in compile_rules(config, [], NODES).dropped} == {
        ("one", "resources"), ("two", "resources"), ("everywhere", "nodes")}


def test_motion_is_blocked_by_a_partner_kept_apart_and_takes_partners_kept_together() -> None:
    compiled = compile_rules(rules(apart("apart", "vm:1", "vm:2"), together("together", "vm:1", "vm:3")), [], NODES)
    status = {"vm:1": ("node1", None), "vm:2": ("node2", None), "vm:3": ("node1", None)}
    blocked = resource_motion(compiled, "vm:1", "node2", status)
    assert blocked.blocking == ("vm:2",)
    free = resource_motion(compiled, "vm:1", "node3", status)
    assert free.blocking == () and free.comigrated == ("vm:3",)
    # upstream checks node and target together: a partner leaving the target does not block
    leaving = resource_motion(compiled, "vm:1", "node2", {**status, "vm:2": ("node2", "node3")})
    assert leaving.blocking == ()


# -- invariants --------------------------------------------------------------------------------------

SIDS = [f"vm:{n}" for n in range(100, 106)]
node_sets = st.dictionaries(st.sampled_from(NODES), st.integers(0, 2), min_size=1, max_size=3)
sid_sets = st.frozensets(st.sampled_from(SIDS), min_size=1, max_size=4)
node_rules = st.builds(NodeAffinityRule, st.just(""), sid_sets, node_sets, st.booleans(), st.just(False),
                       st.sampled_from(["positive", "negative"]))
resource_rules = st.builds(ResourceAffinityRule, st.just(""), sid_sets, st.sampled_from(["positive", "negative"]))
rule_lists = st.lists(st.one_of(node_rules, resource_rules), max_size=6)


def _named(rs: list[NodeAffinityRule | ResourceAffinityRule], prefix: str, disabled: bool = False,
           ) -> list[NodeAffinityRule | ResourceAffinityRule]:
    out: list[NodeAffinityRule | ResourceAffinityRule] = []
    for i, r in enumerate(rs):
        if isinstance(r, NodeAffinityRule):
            out.append(NodeAffinityRule(f"{prefix}{i}", r.resources, r.nodes, r.strict, disabled, r.affinity))
        else:
            out.append(ResourceAffinityRule(f"{prefix}{i}", r.resources, r.affinity, disabled))
    return out


@settings(max_examples=150, deadline=None)
@given(rule_lists, rule_lists)
def test_disabled_rules_change_nothing(enabled: list[NodeAffinityRule | ResourceAffinityRule],
                                       switched_off: list[NodeAffinityRule | ResourceAffinityRule]) -> None:
    """Rules.pm foreach_rule(exclude_disabled_rules): a disabled rule is neither checked,
    blamed, transformed nor compiled, whatever it says."""
    base = compile_rules(HAConfig(rules=_named(enabled, "r")), [], NODES)
    more = compile_rules(HAConfig(rules=[*_named(enabled, "r"), *_named(switched_off, "off", True)]), [], NODES)
    assert more == base


@settings(max_examples=150, deadline=None)
@given(rule_lists)
def test_every_rule_involved_in_a_conflict_is_dropped_and_only_rules_of_the_config(
        rs: list[NodeAffinityRule | ResourceAffinityRule]) -> None:
    config = HAConfig(rules=_named(rs, "r"))
    compiled = compile_rules(config, [], NODES)
    names = {r.name for r in config.rules}
    dropped = {d.rule for d in compiled.dropped}
    assert dropped <= names
    kept = [r for r in config.rules if r.name not in dropped]
    # no surviving node-affinity rule shares a resource with another surviving one
    owners = [sid for r in kept if isinstance(r, NodeAffinityRule) for sid in r.resources]
    assert len(owners) == len(set(owners))
    # a surviving negative resource-affinity rule never holds more resources than nodes
    assert all(len(r.resources) <= len(NODES) for r in kept
               if isinstance(r, ResourceAffinityRule) and r.affinity == "negative")
    # a negative node-affinity rule leaves at least one node, at priority 0 only
    for r in kept:
        if isinstance(r, NodeAffinityRule) and r.affinity == "negative":
            assert len(r.nodes) < len(NODES) and not any(r.nodes.values())


@settings(max_examples=100, deadline=None)
@given(sid_sets, st.sets(st.sampled_from(NODES), min_size=1, max_size=2), st.booleans())
def test_negative_node_affinity_is_the_positive_rule_of_the_other_nodes(
        sids: frozenset[str], avoided: set[str], strict: bool) -> None:
    negative = compile_rules(rules(avoid("r", list(sids), {n: 0 for n in avoided}, strict)), [], NODES)
    others = {n: 0 for n in NODES if n not in avoided}
    positive = compile_rules(rules(node_affinity("r", sids, others, strict)), [], NODES)
    assert {s: dict(a.nodes) for s, a in negative.node_affinity.items()} == \
        {s: dict(a.nodes) for s, a in positive.node_affinity.items()}
