"""Upstream pve-ha-manager regression tests, re-expressed as data.

Each case names the ``src/test/<dir>`` it comes from (proxmox/pve-ha-manager 5.2.0, or
4.0.7 for PVE 8 group tests). The expected nodes are the ones in that test's
``log.expect`` (``recover service ... to node``, ``migrate/relocate service ... to
node``); cluster and resources are rebuilt from its ``hardware_status``,
``service_config``, ``rules_config``/``groups`` and ``static_service_stats``, with memory
in MiB instead of bytes (only ratios matter to the scheduler).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest
from crm_builders import apart, node_affinity, nodes, on, rules, settle, together

from provision.crm import (
    CrsMode,
    Group,
    HAConfig,
    NodeInfo,
    Service,
    explain_service_node,
    recover,
)


@dataclass(frozen=True)
class RecoveryCase:
    upstream: str
    cluster: list[NodeInfo]
    services: list[Service]
    expect: dict[str, str | None]  # sid -> recovery node, None = stays in recovery
    config: HAConfig = field(default_factory=HAConfig)
    crs: CrsMode = "basic"


def static_nodes(
    spec: dict[str, tuple[int, int]], down: Iterable[str] = (), maint: Iterable[str] = ()
) -> list[NodeInfo]:
    """``{name: (cores, memory in GB)}`` as in the static tests' ``hardware_status``."""
    down, maint = set(down), set(maint)
    return [
        NodeInfo(n, online=n not in down, maintenance=n in maint, cores=cores, memory_mib=gb * 1000)
        for n, (cores, gb) in spec.items()
    ]


RECOVERY_CASES = [
    RecoveryCase(
        "test-node-affinity-nonstrict3",  # lone non-strict member fails: fall back to the emptiest node
        nodes("node1", "node2", "node3", down={"node3"}),
        on("node3", "vm:101") + on("node2", "vm:102", "vm:103"),
        {"vm:101": "node1"},
        rules(node_affinity("vm101-should-be-on-node3", ["vm:101"], {"node3": 0})),
    ),
    RecoveryCase(
        "test-node-affinity-nonstrict4",  # remaining member wins although it is busier
        nodes("node1", "node2", "node3", down={"node3"}),
        on("node3", "vm:101") + on("node2", "vm:102", "vm:103"),
        {"vm:101": "node2"},
        rules(node_affinity("vm101-should-be-on-node2-node3", ["vm:101"], {"node2": 0, "node3": 0})),
    ),
    RecoveryCase(
        "test-node-affinity-strict3",  # strict rule, its only node fails: stays in recovery
        nodes("node1", "node2", "node3", down={"node3"}),
        on("node3", "vm:101") + on("node2", "vm:102", "vm:103"),
        {"vm:101": None},
        rules(node_affinity("vm101-must-be-on-node3", ["vm:101"], {"node3": 0}, strict=True)),
    ),
    RecoveryCase(
        "test-node-affinity-strict4",
        nodes("node1", "node2", "node3", down={"node3"}),
        on("node3", "vm:101") + on("node2", "vm:102", "vm:103"),
        {"vm:101": "node2"},
        rules(node_affinity("vm101-must-be-on-node2-node3", ["vm:101"], {"node2": 0, "node3": 0}, strict=True)),
    ),
    RecoveryCase(
        "test-node-affinity-strict5",  # node2 (prio 2) fails: the prio 1 member takes over
        nodes("node1", "node2", "node3", down={"node2"}),
        on("node2", "vm:101"),
        {"vm:101": "node3"},
        rules(node_affinity("vm101-must-be-on-node2-node3", ["vm:101"], {"node2": 2, "node3": 1}, strict=True)),
    ),
    RecoveryCase(
        "test-recovery1",
        nodes("node1", "node2", "node3", down={"node2"}),
        on("node2", "vm:102"),
        {"vm:102": None},
        rules(node_affinity("vm102-must-be-on-node2", ["vm:102"], {"node2": 0}, strict=True)),
    ),
    RecoveryCase(
        "test-resource-affinity-strict-negative1",  # must avoid node2 (vm:101), so the busy node1
        nodes("node1", "node2", "node3", down={"node3"}),
        on("node2", "vm:101") + on("node3", "vm:102") + on("node1", "vm:103", "vm:104"),
        {"vm:102": "node1"},
        rules(apart("lonely-must-vms-be", "vm:101", "vm:102")),
    ),
    RecoveryCase(
        "test-resource-affinity-strict-negative2",
        nodes("node1", "node2", "node3", "node4", "node5", down={"node5"}),
        on("node3", "vm:101")
        + on("node4", "vm:102")
        + on("node5", "vm:103")
        + on("node1", "vm:104", "vm:105", "vm:106")
        + on("node2", "vm:107", "vm:108"),
        {"vm:103": "node2"},
        rules(apart("lonely-must-vms-be", "vm:101", "vm:102", "vm:103")),
    ),
    RecoveryCase(
        "test-resource-affinity-strict-negative3",  # the first recovery constrains the second
        nodes("node1", "node2", "node3", "node4", "node5", down={"node4", "node5"}),
        on("node3", "vm:101")
        + on("node4", "vm:102")
        + on("node5", "vm:103")
        + on("node1", "vm:104", "vm:105", "vm:106")
        + on("node2", "vm:107", "vm:108"),
        {"vm:102": "node2", "vm:103": "node1"},
        rules(apart("lonely-must-vms-be", "vm:101", "vm:102", "vm:103")),
    ),
    RecoveryCase(
        "test-resource-affinity-strict-negative5",  # two pairwise rules: vm:103 may join vm:102
        nodes("node1", "node2", "node3", down={"node3"}),
        on("node1", "vm:101") + on("node2", "vm:102") + on("node3", "vm:103"),
        {"vm:103": "node2"},
        rules(
            apart("lonely-must-some-vms-be1", "vm:101", "vm:102"), apart("lonely-must-some-vms-be2", "vm:101", "vm:103")
        ),
    ),
    RecoveryCase(
        "test-resource-affinity-strict-positive1",  # tie node1/node2 by name, then follow vm:101
        nodes("node1", "node2", "node3", down={"node3"}),
        on("node3", "vm:101", "vm:102") + on("node1", "vm:103") + on("node2", "vm:104"),
        {"vm:101": "node1", "vm:102": "node1"},
        rules(together("vms-must-stick-together", "vm:101", "vm:102")),
    ),
    RecoveryCase(
        "test-resource-affinity-strict-positive2",
        nodes("node1", "node2", "node3", down={"node3"}),
        on("node3", "vm:101", "vm:102", "vm:103") + on("node1", "vm:104", "vm:105") + on("node2", "vm:106"),
        {"vm:101": "node2", "vm:102": "node2", "vm:103": "node2"},
        rules(together("vms-must-stick-together", "vm:101", "vm:102", "vm:103")),
    ),
    RecoveryCase(
        "test-service-stopped2",  # a stopped service is recovered too (and stays stopped)
        nodes("node1", "node2", "node3", down={"node3"}),
        on("node3", "fa:1501", state="stopped"),
        {"fa:1501": "node1"},
    ),
    RecoveryCase(
        "test-basic5 (4.0.7)",  # PVE 8 group with its only member down: any other node
        nodes("node1", "node2", "node3", down={"node1"}),
        on("node1", "vm:101", group="prefer_node1") + on("node2", "vm:102") + on("node3", "vm:103"),
        {"vm:101": "node2"},
        HAConfig(groups=[Group("prefer_node1", {"node1": 0})]),
    ),
    RecoveryCase(
        "test-crs-static1",  # static: the node with the most free memory
        static_nodes({"node1": (32, 100), "node2": (32, 200), "node3": (32, 300)}, down={"node1"}),
        on("node1", "vm:102", cores=2, memory_mib=4000),
        {"vm:102": "node3"},
        crs="static",
    ),
    RecoveryCase(
        "test-crs-static2 (step 4)",  # node4 has twice the CPUs of node3: static prefers it
        static_nodes(
            {"node1": (32, 100), "node2": (32, 200), "node3": (32, 300), "node4": (64, 300), "node5": (32, 100)},
            down={"node1"},
        ),
        on("node1", "vm:102", cores=2, memory_mib=4000),
        {"vm:102": "node4"},
        rules(node_affinity("vm102-should-be-on-node1", ["vm:102"], {"node1": 0})),
        crs="static",
    ),
]


@pytest.mark.parametrize("case", RECOVERY_CASES, ids=[c.upstream for c in RECOVERY_CASES])
def test_recovery_matches_upstream(case: RecoveryCase) -> None:
    result = recover(case.services, case.cluster, case.config, case.crs)
    got = {r.sid: r.new_node for r in result.recoveries}
    assert got == case.expect
    for r in result.recoveries:
        assert r.outcome == ("recovered" if r.new_node else "unplaceable")


@dataclass(frozen=True)
class MoveCase:
    upstream: str
    cluster: list[NodeInfo]
    services: list[Service]
    rounds: list[list[tuple[str, str]]]  # moves the CRM starts, round by round
    config: HAConfig = field(default_factory=HAConfig)
    crs: CrsMode = "basic"


MOVE_CASES = [
    MoveCase(
        "test-node-affinity-nonstrict1",  # manually moved off its preferred node: goes back
        nodes("node1", "node2", "node3"),
        on("node2", "vm:101"),
        [[("vm:101", "node3")]],
        rules(node_affinity("vm101-should-be-on-node3", ["vm:101"], {"node3": 0})),
    ),
    MoveCase(
        "test-node-affinity-nonstrict2",  # same, failback off: stays on the non-member
        nodes("node1", "node2", "node3"),
        on("node2", "vm:101", failback=False),
        [],
        rules(node_affinity("vm101-should-be-on-node3", ["vm:101"], {"node3": 0})),
    ),
    MoveCase(
        "test-node-affinity-strict1",
        nodes("node1", "node2", "node3"),
        on("node2", "vm:101"),
        [[("vm:101", "node3")]],
        rules(node_affinity("vm101-must-be-on-node3", ["vm:101"], {"node3": 0}, strict=True)),
    ),
    MoveCase(
        "test-node-affinity-strict2",  # failback off does not keep it on a forbidden node
        nodes("node1", "node2", "node3"),
        on("node2", "vm:101", failback=False),
        [[("vm:101", "node3")]],
        rules(node_affinity("vm101-must-be-on-node3", ["vm:101"], {"node3": 0}, strict=True)),
    ),
    MoveCase(
        "test-node-affinity-nonstrict5",  # node2 (prio 2) came back: fail back from node3
        nodes("node1", "node2", "node3"),
        on("node3", "vm:101"),
        [[("vm:101", "node2")]],
        rules(node_affinity("vm101-should-be-on-node2-node3", ["vm:101"], {"node2": 2, "node3": 1})),
    ),
    MoveCase(
        "test-node-affinity-nonstrict6",  # node2 came back but failback is off
        nodes("node1", "node2", "node3"),
        on("node3", "vm:101", failback=False),
        [],
        rules(node_affinity("vm101-should-be-on-node2-node3", ["vm:101"], {"node2": 2, "node3": 1})),
    ),
    MoveCase(
        "test-node-affinity-strict6",
        nodes("node1", "node2", "node3"),
        on("node3", "vm:101", failback=False),
        [],
        rules(node_affinity("vm101-must-be-on-node2-node3", ["vm:101"], {"node2": 2, "node3": 1}, strict=True)),
    ),
    MoveCase(
        "test-basic5 (4.0.7)",  # PVE 8 group: node1 is back, vm:101 returns
        nodes("node1", "node2", "node3"),
        on("node2", "vm:101", group="prefer_node1") + on("node2", "vm:102") + on("node3", "vm:103"),
        [[("vm:101", "node1")]],
        HAConfig(groups=[Group("prefer_node1", {"node1": 0})]),
    ),
    MoveCase(
        "test-crm-maintenance-request1",  # vm:102 is not running, so node2 is the emptiest
        nodes("node1", "node2", "node3", maintenance={"node3"}),
        on("node1", "vm:101") + on("node2", "vm:102", state="stopped") + on("node3", "vm:103"),
        [[("vm:103", "node2")]],
    ),
    MoveCase(
        "test-shutdown-policy3 (reboot, migrate policy)",
        nodes("node1", "node2", "node3", maintenance={"node3"}),
        on("node3", "ct:102", "vm:103"),
        [[("ct:102", "node1"), ("vm:103", "node2")]],  # the first move already loads node1
    ),
    MoveCase(
        "test-shutdown-policy3 (node3 back from maintenance)",
        nodes("node1", "node2", "node3"),
        on("node1", "ct:102", maintenance_node="node3") + on("node2", "vm:103", maintenance_node="node3"),
        [[("ct:102", "node3"), ("vm:103", "node3")]],
    ),
    MoveCase(
        "test-crs-static3",  # node2 has twice node3's resources: node2, node2, node3, ...
        static_nodes({"node1": (32, 100), "node2": (64, 200), "node3": (32, 100)}, maint={"node1"}),
        on("node1", "vm:100", state="stopped", cores=2, memory_mib=4000)
        + on("node1", *(f"vm:{i}" for i in range(101, 110)), cores=2, memory_mib=4000),
        [
            [
                ("vm:101", "node2"),
                ("vm:102", "node2"),
                ("vm:103", "node3"),
                ("vm:104", "node2"),
                ("vm:105", "node2"),
                ("vm:106", "node3"),
                ("vm:107", "node2"),
                ("vm:108", "node2"),
                ("vm:109", "node3"),
            ]
        ],
        crs="static",
    ),
    MoveCase(
        "test-crs-static4",  # one heavy container (cores 0 = whole node) goes alone to node2
        static_nodes({"node1": (32, 100), "node2": (32, 100), "node3": (32, 100)}, maint={"node1"}),
        on("node1", "ct:100", state="stopped", cores=2, memory_mib=4000)
        + on("node1", "ct:101", cores=0, memory_mib=40000)
        + on("node1", *(f"ct:{i}" for i in range(102, 110)), cores=2, memory_mib=2000),
        [[("ct:101", "node2")] + [(f"ct:{i}", "node3") for i in range(102, 110)]],
        crs="static",
    ),
    MoveCase(
        "test-crs-static5",  # plenty of CPU on node3 outweighs node2's free memory
        static_nodes({"node1": (32, 100), "node2": (32, 100), "node3": (128, 100)}, maint={"node1"}),
        on("node2", "ct:102", cores=0.5, memory_mib=40000)
        + on("node3", "ct:103", cores=0.5, memory_mib=200)
        + on("node1", *(f"ct:{i}" for i in range(104, 110)), cores=0.5, memory_mib=200),
        [[(f"ct:{i}", "node3") for i in range(104, 110)]],
        crs="static",
    ),
    MoveCase(
        "test-crs-static2 (node1 back)",  # the non-strict rule's node wins over free resources
        static_nodes(
            {"node1": (32, 100), "node2": (32, 200), "node3": (32, 300), "node4": (64, 300), "node5": (32, 100)},
        ),
        on("node4", "vm:102", cores=2, memory_mib=4000),
        [[("vm:102", "node1")]],
        rules(node_affinity("vm102-should-be-on-node1", ["vm:102"], {"node1": 0})),
        crs="static",
    ),
    MoveCase(
        "test-resource-affinity-strict-mixed1",
        nodes("node1", "node2", "node3"),
        on("node3", "vm:101", "vm:202") + on("node1", "vm:201", "vm:203"),
        [[("vm:101", "node2"), ("vm:202", "node1")]],
        rules(
            together("vms-100s-must-stick-together", "vm:201", "vm:202", "vm:203"),
            apart("vms-100s-and-vm201-must-be-separate", "vm:201", "vm:101"),
        ),
    ),
    MoveCase(
        "test-resource-affinity-strict-mixed2",
        nodes("node1", "node2", "node3"),
        on("node1", "vm:101", "vm:103", "vm:201", "vm:203") + on("node3", "vm:102") + on("node2", "vm:202"),
        [[("vm:101", "node3"), ("vm:103", "node3"), ("vm:201", "node2"), ("vm:203", "node2")]],
        rules(
            together("together-100s", "vm:101", "vm:102", "vm:103"),
            together("together-200s", "vm:201", "vm:202", "vm:203"),
            apart("lonely-must-vms-be", "vm:101", "vm:201"),
        ),
    ),
    MoveCase(
        "test-resource-affinity-strict-mixed3",  # vm:201 can only follow in the next round
        nodes("node1", "node2", "node3"),
        on("node1", "vm:101", "vm:103", "vm:201", "vm:203") + on("node2", "vm:102", "vm:202"),
        [[("vm:101", "node3"), ("vm:102", "node3"), ("vm:103", "node3"), ("vm:203", "node2")], [("vm:201", "node2")]],
        rules(
            together("together-100s", "vm:101", "vm:102", "vm:103"),
            together("together-200s", "vm:201", "vm:202", "vm:203"),
            apart("lonely-must-vms-be", "vm:101", "vm:201"),
        ),
    ),
    MoveCase(
        "test-resource-affinity-with-node-affinity-strict-negative2",
        nodes("node1", "node2", "node3", "node4"),
        on("node1", "vm:101", "vm:102", "vm:103"),
        [[("vm:101", "node2"), ("vm:102", "node3"), ("vm:103", "node4")]],
        rules(
            node_affinity(
                "vms-must-be-on-subcluster", ["vm:101", "vm:102", "vm:103"], {"node2": 0, "node3": 0, "node4": 0}
            ),
            apart("lonely-must-vms-be", "vm:101", "vm:102", "vm:103"),
        ),
    ),
    MoveCase(
        "test-resource-affinity-with-node-affinity-strict-positive1",  # the rule spreads to partners
        nodes("node1", "node2", "node3"),
        on("node3", "vm:101", "vm:102", "vm:103"),
        [[("vm:101", "node2"), ("vm:102", "node2"), ("vm:103", "node2")]],
        rules(
            node_affinity("vm102-must-be-on-node2", ["vm:102"], {"node2": 0}),
            together("vms-must-stick-together", "vm:101", "vm:102", "vm:103"),
        ),
    ),
    MoveCase(
        "test-resource-affinity-with-node-affinity-strict-positive2",
        nodes("node1", "node2", "node3"),
        on("node3", "vm:101", "vm:102", "vm:103"),
        [[("vm:101", "node1"), ("vm:102", "node1"), ("vm:103", "node1")]],
        rules(
            node_affinity("vm102-must-be-on-node1-or-node2", ["vm:102"], {"node1": 0, "node2": 0}),
            together("vms-must-stick-together", "vm:101", "vm:102", "vm:103"),
        ),
    ),
]


@pytest.mark.parametrize("case", MOVE_CASES, ids=[c.upstream for c in MOVE_CASES])
def test_moves_match_upstream(case: MoveCase) -> None:
    assert settle(case.services, case.cluster, case.config, case.crs) == case.rounds


def test_relocate_policy_tries_least_loaded_untried_node() -> None:
    """test-relocate-policy1: fa:130 fails to start on node3, then node2, then node1."""
    cluster = nodes("node1", "node2", "node3")
    others = on("node1", "vm:100", "vm:101", "vm:102") + on("node2", "vm:103", "vm:104") + on("node3", "vm:105")
    fa = Service("fa:130", "node3", max_restart=0, max_relocate=3)

    def next_node(current: str, tried: list[str]) -> str | None:
        svc = Service(fa.sid, current, max_restart=0, max_relocate=3)
        return explain_service_node(svc, cluster, others, try_next=True, tried_nodes=tried).node

    assert next_node("node3", ["node3"]) == "node2"  # node2 has fewer services than node1
    assert next_node("node2", ["node3", "node2"]) == "node1"
    assert next_node("node1", ["node3", "node2", "node1"]) is None  # "retry start on current node"


def test_relocate_within_group_after_failed_start() -> None:
    """test-resource-failure2 (4.0.7): group 'all', start fails on node2 -> node1."""
    cluster = nodes("node1", "node2", "node3")
    svc = Service("fa:130", "node2", group="all", max_restart=2)
    config = HAConfig(groups=[Group("all", {"node1": 0, "node2": 0, "node3": 0})])
    placement = explain_service_node(svc, cluster, [svc], config, try_next=True, tried_nodes=["node2"])
    assert placement.node == "node1"
    assert "already tried node2" in placement.reason


def test_recovery_to_the_fenced_node_once_it_is_back() -> None:
    """test-recovery2: a service stuck in recovery (strict rule) goes back to its own
    node when that node is online again; recovery uses the best-score preference."""
    cluster = nodes("node1", "node2", "node3")
    svc = Service("vm:102", "node2")
    config = rules(node_affinity("vm102-must-be-on-node2", ["vm:102"], {"node2": 0}, strict=True))
    assert explain_service_node(svc, cluster, [svc], config, best_score=True).node == "node2"
    (again,) = recover([svc], cluster, config, in_recovery=["vm:102"]).recoveries
    assert (again.outcome, again.new_node) == ("recovered", "node2")
    assert "its own node" in again.reason


def test_disabling_a_service_stuck_in_recovery() -> None:
    """test-recovery4: only 'disabled' gets a service without a recovery node out of
    recovery (as stopped); until then it is retried."""
    cluster = nodes("node1", "node2", "node3", down={"node2"})
    config = rules(node_affinity("vm102-must-be-on-node2", ["vm:102"], {"node2": 0}, strict=True))
    stuck = recover([Service("vm:102", "node2")], cluster, config, in_recovery=["vm:102"])
    assert stuck.unplaceable == ("vm:102",)
    disabled = recover([Service("vm:102", "node2", "disabled")], cluster, config, in_recovery=["vm:102"])
    assert disabled["vm:102"].outcome == "not-recovered"
    assert "leaves recovery as stopped" in disabled["vm:102"].reason
