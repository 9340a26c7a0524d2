"""Rule compilation: feasibility checks, transforms, group migration.

Cases re-express pve-ha-manager ``src/test/rules_cfgs/*.cfg`` and their ``.expect``
("Drop rule ..." log and compiled config); the cluster there is node1..node3.
"""

from __future__ import annotations

import pytest
from crm_builders import apart, node_affinity, rules, together

from provision.crm import (
    Group,
    HAConfig,
    NodeAffinityRule,
    Service,
    compile_rules,
)

NODES = ["node1", "node2", "node3"]


def dropped(config: HAConfig, services: list[Service] | None = None) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for d in compile_rules(config, services or [], NODES).dropped:
        out.setdefault(d.rule, set()).add(d.reason)
    return out


def test_defaults_for_node_affinity_rules() -> None:
    """rules_cfgs/defaults-for-node-affinity-rules (../shared/reference/samples/ha-rules-node-affinity.*):
    non-strict rules add the other nodes at -1, strict ones do not, disabled ones vanish."""
    config = rules(
        node_affinity("node-affinity-defaults", ["vm:101"], {"node1": 0}),
        NodeAffinityRule("node-affinity-disabled", frozenset({"vm:102"}), {"node2": 0}, disabled=True),
        NodeAffinityRule("node-affinity-disabled-explicit", frozenset({"vm:103"}), {"node2": 0}, disabled=True),
        node_affinity("node-affinity-strict", ["vm:104"], {"node3": 0}, strict=True),
    )
    compiled = compile_rules(config, [], NODES)
    assert {sid: dict(na.nodes) for sid, na in compiled.node_affinity.items()} == {
        "vm:101": {"node1": 0, "node2": -1, "node3": -1},
        "vm:104": {"node3": 0},
    }
    assert compiled.positive == {} and compiled.negative == {} and compiled.dropped == ()


def test_multiple_resource_refs_in_node_affinity_rules() -> None:
    """rules_cfgs/multiple-resource-refs-in-node-affinity-rules: every rule naming vm:201 goes."""
    config = rules(
        node_affinity("no-same-resource1", ["vm:101", "vm:102", "vm:103"], {"node1": 0, "node2": 2}),
        node_affinity("no-same-resource2", ["vm:104", "vm:105"], {"node1": 0, "node2": 2}),
        node_affinity("no-same-resource3", ["vm:106"], {"node1": 0, "node2": 2}, strict=True),
        node_affinity("same-resource1", ["vm:201"], {"node1": 0, "node2": 2}),
        node_affinity("same-resource2", ["vm:201", "vm:202"], {"node3": 0}, strict=True),
        node_affinity("same-resource3", ["vm:201", "vm:203", "vm:204"], {"node1": 2, "node3": 3}),
    )
    reason = {"resource 'vm:201' is already used in another node affinity rule"}
    assert dropped(config) == {"same-resource1": reason, "same-resource2": reason, "same-resource3": reason}
    compiled = compile_rules(config, [], NODES)
    assert sorted(compiled.node_affinity) == ["vm:101", "vm:102", "vm:103", "vm:104", "vm:105", "vm:106"]
    assert dict(compiled.node_affinity["vm:101"].nodes) == {"node1": 0, "node2": 2, "node3": -1}
    assert dict(compiled.node_affinity["vm:106"].nodes) == {"node1": 0, "node2": 2}


def test_inconsistent_node_and_resource_affinity_rules() -> None:
    """rules_cfgs/inconsistent-node-resource-affinity-rules: cases 1+2 survive, 3..5 are dropped."""
    strict = {"strict": True}
    config = rules(
        node_affinity("vm101-vm102-must-be-on-node1", ["vm:101", "vm:102"], {"node1": 0}, **strict),
        together("vm101-vm102-must-be-kept-together", "vm:101", "vm:102"),
        node_affinity("vm201-must-be-on-node1", ["vm:201"], {"node1": 0}, **strict),
        node_affinity("vm202-must-be-on-node2", ["vm:202"], {"node2": 0}, **strict),
        apart("vm201-vm202-must-be-kept-separate", "vm:201", "vm:202"),
        node_affinity("vm301-must-be-on-node1", ["vm:301"], {"node1": 0}, **strict),
        node_affinity("vm301-must-be-on-node2", ["vm:302"], {"node2": 0}, **strict),
        together("vm301-vm302-must-be-kept-together", "vm:301", "vm:302"),
        node_affinity("vm401-must-be-on-node1", ["vm:401"], {"node1": 0}, **strict),
        node_affinity("vm402-must-be-on-node1", ["vm:402"], {"node1": 0}, **strict),
        apart("vm401-vm402-must-be-kept-separate", "vm:401", "vm:402"),
        node_affinity("vm501-must-be-on-node1", ["vm:501"], {"node1": 0}, **strict),
        node_affinity("vm503-must-be-on-node2", ["vm:503"], {"node2": 0}, **strict),
        together("vm501-vm502-must-be-kept-together", "vm:501", "vm:502"),
        together("vm502-vm503-must-be-kept-together", "vm:502", "vm:503"),
    )
    multi = "at least one resource is in a positive resource affinity rule and there are other resources in at least one other node affinity rule already"  # noqa: E501
    too_few = "at least one resource is in a negative resource affinity rule and this rule would restrict these to less nodes than available to the resources"  # noqa: E501
    assert dropped(config) == {
        "vm301-must-be-on-node1": {multi},
        "vm301-must-be-on-node2": {multi},
        "vm301-vm302-must-be-kept-together": {"resources are in multiple node affinity rules"},
        "vm401-must-be-on-node1": {too_few},
        "vm401-vm402-must-be-kept-separate": {
            "two or more resources are restricted to less nodes than available to the resources"
        },
        "vm402-must-be-on-node1": {too_few},
        "vm501-must-be-on-node1": {multi},
        "vm501-vm502-must-be-kept-together": {"resources are in multiple node affinity rules"},
        "vm502-vm503-must-be-kept-together": {"resources are in multiple node affinity rules"},
        "vm503-must-be-on-node2": {multi},
    }
    compiled = compile_rules(config, [], NODES)
    assert {sid: dict(na.nodes) for sid, na in compiled.node_affinity.items()} == {
        "vm:101": {"node1": 0},
        "vm:102": {"node1": 0},
        "vm:201": {"node1": 0},
        "vm:202": {"node2": 0},
    }
    assert compiled.positive == {"vm:101": {"vm:102"}, "vm:102": {"vm:101"}}
    assert compiled.negative == {"vm:201": {"vm:202"}, "vm:202": {"vm:201"}}


def test_ineffective_resource_affinity_rules() -> None:
    """rules_cfgs/ineffective-resource-affinity-rules and ineffective-negative-...: fewer
    than two resources, or more resources to keep apart than the cluster has nodes."""
    config = rules(
        together("lonely-resource1", "vm:101"),
        apart("lonely-resource2", "vm:101"),
        apart("do-not-remove-me1", "vm:201", "vm:202"),
        apart("do-not-remove-me2", "vm:201", "vm:202", "vm:203"),
        apart("remove-me1", "vm:201", "vm:202", "vm:203", "vm:204"),
    )
    assert dropped(config) == {
        "lonely-resource1": {"rule is ineffective as there are less than two resources"},
        "lonely-resource2": {"rule is ineffective as there are less than two resources"},
        "remove-me1": {"rule defines more resources than available nodes"},
    }


def test_multi_priority_node_affinity_with_resource_affinity() -> None:
    """rules_cfgs/multi-priority-node-affinity-with-resource-affinity-rules."""
    config = rules(
        node_affinity("vm101-vm102-should-be-on-node1-or-node2", ["vm:101", "vm:102"], {"node1": 1, "node2": 2}),
        apart("vm101-vm102-must-be-kept-separate", "vm:101", "vm:102"),
        node_affinity("vm301-must-be-on-node1-with-prio-1", ["vm:301"], {"node1": 1}, strict=True),
        node_affinity("vm302-must-be-on-node2-with-prio-2", ["vm:302"], {"node2": 2}, strict=True),
        apart("vm301-vm302-must-be-kept-together", "vm:301", "vm:302"),
    )
    assert set(dropped(config)) == {"vm101-vm102-must-be-kept-separate", "vm101-vm102-should-be-on-node1-or-node2"}


def test_inconsistent_resource_affinity_rules() -> None:
    """rules_cfgs/inconsistent-resource-affinity-rules: positive and negative rules sharing
    two resources (also through merged positive rules) are all dropped."""
    config = rules(
        apart("keep-apart1", "vm:102", "vm:103"),
        apart("keep-apart2", "vm:102", "vm:104", "vm:106"),
        together("stick-together1", "vm:101", "vm:102", "vm:103", "vm:104", "vm:106"),
        together("split-stick-together1", "vm:201", "vm:202"),
        together("split-stick-together2", "vm:202", "vm:203"),
        apart("split-keep-apart1", "vm:201", "vm:203"),
    )
    assert set(dropped(config)) == {
        "keep-apart1",
        "keep-apart2",
        "split-keep-apart1",
        "split-stick-together1",
        "split-stick-together2",
        "stick-together1",
    }


def test_merge_and_infer_implicit_negative_rules() -> None:
    """rules_cfgs/merge-and-infer-implicit-negative-resource-affinity-rules."""
    config = rules(
        together("infer-connected-positive1", "vm:101", "vm:102"),
        together("infer-connected-positive2", "vm:102", "vm:103"),
        apart("infer-connected-negative1", "vm:101", "vm:104"),
        apart("infer-connected-negative2", "vm:102", "vm:105"),
    )
    compiled = compile_rules(config, [], NODES)
    group = {"vm:101", "vm:102", "vm:103"}
    assert compiled.positive == {sid: group - {sid} for sid in group}
    assert compiled.negative == {
        **{sid: {"vm:104", "vm:105"} for sid in group},
        "vm:104": group,
        "vm:105": group,
    }


def test_infer_node_affinity_for_positive_rules() -> None:
    """rules_cfgs/infer-node-affinity-for-positive-resource-affinity-rules: a node-affinity
    rule on one member of a positive group applies to the whole group."""
    config = rules(
        together("do-not-infer-positive1", "vm:101", "vm:102", "vm:103"),
        node_affinity("infer-single-resource1", ["vm:302"], {"node3": 0}),
        together("infer-single-resource2", "vm:301", "vm:302", "vm:303"),
        node_affinity("infer-multi-resources1", ["vm:402", "vm:404", "vm:405"], {"node1": 0, "node3": 0}, strict=True),
        together("infer-multi-resources2", "vm:401", "vm:402", "vm:403", "vm:404"),
    )
    compiled = compile_rules(config, [], NODES)
    assert set(compiled.node_affinity) == {
        "vm:301",
        "vm:302",
        "vm:303",
        "vm:401",
        "vm:402",
        "vm:403",
        "vm:404",
        "vm:405",
    }
    assert dict(compiled.node_affinity["vm:301"].nodes) == {"node3": 0, "node1": -1, "node2": -1}
    assert dict(compiled.node_affinity["vm:403"].nodes) == {"node1": 0, "node3": 0}


def test_groups_become_node_affinity_rules() -> None:
    """PVE 9's group migration: only referenced groups; strict = restricted; nofailback
    folds into the resource's failback, overriding the resource's own flag."""
    config = HAConfig(
        groups=[
            Group("prod", {"node1": 2, "node2": 1}, restricted=True, nofailback=True),
            Group("lab", {"node3": 0}),
            Group("unused", {"node1": 0}, restricted=True),
        ]
    )
    services = [
        Service("vm:100", "node1", group="prod"),
        Service("vm:101", "node3", group="lab", failback=False),
        Service("vm:102", "node2", failback=False),
        Service("vm:103", "node2", group="missing", failback=False),
    ]
    compiled = compile_rules(config, services, NODES)
    assert {sid: (dict(na.nodes), na.strict, na.label) for sid, na in compiled.node_affinity.items()} == {
        "vm:100": ({"node1": 2, "node2": 1}, True, "restricted group prod"),
        "vm:101": ({"node3": 0, "node1": -1, "node2": -1}, False, "group lab"),
    }
    assert compiled.failback == {"vm:100": False, "vm:101": True, "vm:102": False, "vm:103": True}


def test_group_and_rule_for_the_same_resource_conflict() -> None:
    """Before migration PVE 9 folds groups into the rule set, so a resource with a group
    *and* a node-affinity rule makes both rules infeasible."""
    config = HAConfig(
        groups=[Group("prod", {"node1": 0})],
        rules=[node_affinity("pin", ["vm:100"], {"node2": 0})],
    )
    assert set(dropped(config, [Service("vm:100", "node1", group="prod")])) == {"ha-group-prod", "pin"}


def test_dropped_rule_message_matches_the_crm_log_line() -> None:
    (d,) = compile_rules(rules(together("lonely", "vm:101")), [], NODES).dropped
    assert d.message == "Drop rule 'lonely', because rule is ineffective as there are less than two resources."


def test_duplicate_rule_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate rule name"):
        rules(together("a", "vm:1", "vm:2"), apart("a", "vm:1", "vm:3"))
