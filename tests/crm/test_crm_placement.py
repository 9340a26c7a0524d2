"""HA placement: groups, rules, CRS scoring, maintenance, recovery order, failback."""

from __future__ import annotations

import pytest
from crm_builders import apart, node_affinity, nodes, on, rules, together

from provision.crm import (
    Group,
    HAConfig,
    NodeAffinityRule,
    NodeInfo,
    Service,
    allowed_nodes,
    explain_service_node,
    failback_moves,
    pending_moves,
    recover,
    select_service_node,
)

PVE = ("pve1", "pve2", "pve3")
PROD = HAConfig(groups=[Group("prod", {"pve1": 2, "pve2": 1, "pve3": 0})])


# --- groups (PVE 8) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("down", "expected"),
    [((), "pve1"), (("pve1",), "pve2"), (("pve1", "pve2"), "pve3")],
)
def test_group_priority_picks_highest_online_member(down: tuple[str, ...], expected: str) -> None:
    svc = Service("vm:100", "pve3", group="prod")
    others = on("pve1", "vm:101", "vm:102")  # load does not beat priority
    placement = explain_service_node(svc, nodes(*PVE, down=down), others, PROD, best_score=True)
    assert placement.node == expected
    assert placement.reason.startswith("highest priority online node in group prod")


def test_restricted_group_without_online_member_places_nowhere() -> None:
    config = HAConfig(groups=[Group("db", {"pve1": 0, "pve2": 0}, restricted=True)])
    svc = Service("vm:100", "pve1", group="db")
    cluster = nodes(*PVE, down={"pve1", "pve2"})
    assert select_service_node(svc, cluster, [svc], config) is None
    result = recover([svc], cluster, config)
    assert result["vm:100"].outcome == "unplaceable"
    assert result.unplaceable == ("vm:100",)
    assert "no online node allowed by restricted group db" in result["vm:100"].reason


def test_unrestricted_group_falls_back_to_non_members_then_fails_back() -> None:
    config = HAConfig(groups=[Group("web", {"pve1": 0})])
    web = Service("vm:100", "pve1", group="web")
    others = on("pve2", "vm:200")
    result = recover([web, *others], nodes(*PVE, down={"pve1"}), config)
    assert result.placements == {"vm:100": "pve3"}  # non-member, least loaded
    assert "no member of group web online" in result["vm:100"].reason

    moved = Service("vm:100", "pve3", group="web")
    assert failback_moves([moved, *others], nodes(*PVE), config) == [("vm:100", "pve3", "pve1")]


def test_nofailback_keeps_the_service_where_it_is() -> None:
    config = HAConfig(groups=[Group("web", {"pve1": 0}, nofailback=True)])
    moved = Service("vm:100", "pve3", group="web")  # group flag wins over the resource's failback
    assert failback_moves([moved], nodes(*PVE), config) == []
    placement = explain_service_node(moved, nodes(*PVE), [moved], config)
    assert placement.node == "pve3"
    assert "failback is off" in placement.reason


def test_nofailback_does_not_keep_a_service_on_a_node_a_restricted_group_forbids() -> None:
    config = HAConfig(groups=[Group("db", {"pve1": 0}, restricted=True, nofailback=True)])
    assert failback_moves([Service("vm:100", "pve3", group="db")], nodes(*PVE), config) == [("vm:100", "pve3", "pve1")]


def test_dangling_group_reference_allows_every_node() -> None:
    svc = Service("vm:100", "pve1", group="gone")
    assert allowed_nodes(svc, nodes(*PVE), PROD) == {"pve1": 0, "pve2": 0, "pve3": 0}


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (Group("g", {"pve1": 2, "pve2": 1}), {"pve1": 2, "pve2": 1, "pve3": -1}),
        (Group("g", {"pve1": 2, "pve2": 1}, restricted=True), {"pve1": 2, "pve2": 1}),
        (Group("g", {"pve2": 0, "pve9": 5}, restricted=True), {"pve2": 0}),  # unknown node ignored
    ],
)
def test_allowed_nodes_for_groups(group: Group, expected: dict[str, int]) -> None:
    svc = Service("vm:100", "pve1", group="g")
    assert allowed_nodes(svc, nodes(*PVE), HAConfig(groups=[group])) == expected


# --- node-affinity rules (PVE 9) ------------------------------------------------------------


def test_allowed_nodes_for_rules() -> None:
    svc = Service("vm:100", "pve1")
    cluster = nodes(*PVE)
    assert allowed_nodes(svc, cluster) == {"pve1": 0, "pve2": 0, "pve3": 0}
    loose = rules(node_affinity("r", ["vm:100"], {"pve2": 1}))
    assert allowed_nodes(svc, cluster, loose) == {"pve1": -1, "pve2": 1, "pve3": -1}
    strict = rules(node_affinity("r", ["vm:100"], {"pve2": 1}, strict=True))
    assert allowed_nodes(svc, cluster, strict) == {"pve2": 1}


def test_strict_rule_without_online_node_places_nowhere_non_strict_falls_back() -> None:
    svc = Service("vm:100", "pve2")
    cluster = nodes(*PVE, down={"pve2"})
    strict = rules(node_affinity("pin", ["vm:100"], {"pve2": 0}, strict=True))
    placement = explain_service_node(svc, cluster, [svc], strict, best_score=True)
    assert placement.node is None
    assert placement.reason == "no online node allowed by strict node-affinity rule pin"
    loose = rules(node_affinity("prefer", ["vm:100"], {"pve2": 0}))
    assert select_service_node(svc, cluster, [svc], loose, best_score=True) == "pve1"


def test_disabled_rule_is_ignored() -> None:
    rule = node_affinity("pin", ["vm:100"], {"pve3": 0}, strict=True)
    disabled = rules(NodeAffinityRule("pin", frozenset({"vm:100"}), {"pve3": 0}, strict=True, disabled=True))
    svc = Service("vm:100", "pve1")
    assert failback_moves([svc], nodes(*PVE), disabled) == []
    assert failback_moves([svc], nodes(*PVE), rules(rule)) == [("vm:100", "pve1", "pve3")]


# --- resource affinity ----------------------------------------------------------------------


def test_negative_affinity_avoids_nodes_running_the_other_service() -> None:
    config = rules(apart("spread", "vm:100", "vm:200"))
    svc = Service("vm:100", "pve3")
    others = on("pve1", "vm:200") + on("pve2", "vm:300", "vm:301")  # pve1 would win on load
    placement = explain_service_node(svc, nodes(*PVE, down={"pve3"}), [svc, *others], config, best_score=True)
    assert placement.node == "pve2"
    assert "kept apart from vm:200 on pve1" in placement.reason


def test_positive_affinity_goes_where_the_others_are() -> None:
    config = rules(together("pair", "vm:100", "vm:200", "vm:300"))
    svc = Service("vm:100", "pve3")
    others = on("pve2", "vm:200", "vm:300", "vm:400")  # busiest node, still chosen
    placement = explain_service_node(svc, nodes(*PVE, down={"pve3"}), [svc, *others], config, best_score=True)
    assert placement.node == "pve2"
    assert "kept together with vm:200, vm:300 on pve2" in placement.reason


def test_positive_affinity_follows_the_majority_of_its_partners() -> None:
    config = rules(together("app", "vm:100", "vm:200", "vm:300", "vm:400"))
    svc = Service("vm:100", "pve4")
    others = on("pve1", "vm:200") + on("pve3", "vm:300", "vm:400")  # split: 1 on pve1, 2 on pve3
    cluster = [*nodes(*PVE), NodeInfo("pve4", online=False)]
    assert select_service_node(svc, cluster, [svc, *others], config, best_score=True) == "pve3"


def test_negative_affinity_can_leave_a_service_unplaceable() -> None:
    config = rules(apart("spread", "vm:100", "vm:200", "vm:300"))
    services = on("pve1", "vm:100") + on("pve2", "vm:200") + on("pve3", "vm:300")
    result = recover(services, nodes(*PVE, down={"pve3"}), config)
    assert result["vm:300"].outcome == "unplaceable"
    assert "every candidate was excluded" in result["vm:300"].reason


# --- scoring --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("load", "expected"),
    [
        ({}, "pve1"),  # all empty: node name
        ({"pve1": 1}, "pve2"),  # fewest services
        ({"pve1": 1, "pve2": 1}, "pve3"),
        ({"pve1": 2, "pve2": 1, "pve3": 1}, "pve2"),  # tie between pve2/pve3: name
    ],
)
def test_basic_crs_counts_services_then_sorts_by_name(load: dict[str, int], expected: str) -> None:
    others = [Service(f"vm:{n}{i}", n) for n, count in load.items() for i in range(count)]
    svc = Service("vm:999", "pve4")
    cluster = [*nodes(*PVE), NodeInfo("pve4", online=False)]
    assert select_service_node(svc, cluster, others, best_score=True) == expected


def test_basic_crs_ignores_stopped_disabled_and_ignored_services() -> None:
    others = (
        on("pve1", "vm:1", state="stopped") + on("pve1", "vm:2", state="disabled") + on("pve1", "vm:3", state="ignored")
    )
    others += on("pve2", "vm:4")
    svc = Service("vm:999", "pve3")
    assert select_service_node(svc, nodes(*PVE, down={"pve3"}), others, best_score=True) == "pve1"


def test_no_rebalancing_while_the_current_node_is_in_the_best_class() -> None:
    crowded = on("pve1", "vm:1", "vm:2", "vm:3")
    assert select_service_node(crowded[0], nodes(*PVE), crowded) == "pve1"
    assert pending_moves(crowded, nodes(*PVE)) == []


def test_static_crs_prefers_the_node_with_free_memory() -> None:
    cluster = [
        NodeInfo("pve1", True, memory_mib=64_000, cores=16),
        NodeInfo("pve2", True, memory_mib=64_000, cores=16),
        NodeInfo("pve3", False, memory_mib=64_000, cores=16),
    ]
    big = Service("vm:100", "pve1", memory_mib=48_000, cores=2)
    svc = Service("vm:200", "pve3", memory_mib=8_000, cores=2)
    placement = explain_service_node(svc, cluster, [big, svc], crs="static", best_score=True)
    assert placement.node == "pve2"
    assert "lowest load (static CRS)" in placement.reason
    # two tiny services on pve2: basic counts them, static weighs them
    tiny = on("pve2", "vm:300", "vm:301", memory_mib=500, cores=1)
    assert select_service_node(svc, cluster, [big, *tiny, svc], crs="static", best_score=True) == "pve2"
    assert select_service_node(svc, cluster, [big, *tiny, svc], crs="basic", best_score=True) == "pve1"


def _static_pick(existing: list[Service], svc: Service) -> str | None:
    cluster = [
        NodeInfo("pve1", True, memory_mib=100_000, cores=32),
        NodeInfo("pve2", True, memory_mib=100_000, cores=32),
        NodeInfo(svc.node, False, memory_mib=100_000, cores=32),
    ]
    return select_service_node(svc, cluster, [*existing, svc], crs="static", best_score=True)


def test_static_crs_weighs_memory_above_cpu() -> None:
    """TOPSIS weights memory 5/10 against CPU 1/2: a CPU-busy node with free memory wins."""
    existing = [
        Service("vm:1", "pve1", cores=24, memory_mib=10_000),
        Service("vm:2", "pve2", cores=3, memory_mib=40_000),
    ]
    assert _static_pick(existing, Service("vm:9", "pve3", cores=2, memory_mib=2_000)) == "pve1"


def test_static_crs_counts_a_guest_without_cpu_limit_as_the_whole_node() -> None:
    existing = [Service("vm:1", "pve1", cores=0, memory_mib=8_000), Service("vm:2", "pve2", cores=4, memory_mib=8_000)]
    assert _static_pick(existing, Service("vm:9", "pve3", cores=2, memory_mib=2_000)) == "pve2"


def test_static_crs_without_capacities_falls_back_to_basic_and_says_so() -> None:
    svc = Service("vm:200", "pve3", memory_mib=8_000)
    placement = explain_service_node(svc, nodes(*PVE, down={"pve3"}), [svc], crs="static", best_score=True)
    assert placement.node == "pve1"
    assert "used basic" in placement.reason


# --- maintenance ----------------------------------------------------------------------------


def test_maintenance_node_is_never_chosen() -> None:
    svc = Service("vm:100", "pve3")
    others = on("pve2", "vm:1", "vm:2")
    cluster = nodes(*PVE, down={"pve3"}, maintenance={"pve1"})
    assert select_service_node(svc, cluster, [svc, *others], best_score=True) == "pve2"


def test_services_leave_a_maintenance_node_and_come_back() -> None:
    services = on("pve1", "vm:100", "vm:101") + on("pve1", "vm:102", state="stopped")
    moves = pending_moves(services, nodes(*PVE, maintenance={"pve1"}))
    assert [(m.sid, m.source, m.target, m.maintenance_node) for m in moves] == [
        ("vm:100", "pve1", "pve2", "pve1"),
        ("vm:101", "pve1", "pve3", "pve1"),  # stopped vm:102 stays
    ]
    assert "pve1 is in maintenance" in moves[0].reason
    back = [Service(m.sid, m.target, maintenance_node=m.maintenance_node) for m in moves]
    returned = pending_moves(back, nodes(*PVE))
    assert [(m.sid, m.target, m.maintenance_node) for m in returned] == [
        ("vm:100", "pve1", None),
        ("vm:101", "pve1", None),
    ]
    assert "back to pve1, which left maintenance" in returned[0].reason


def test_maintenance_node_that_goes_offline() -> None:
    """A stopped service on an offline node in maintenance is not fenced; a running one is."""
    services = on("pve1", "vm:100") + on("pve1", "vm:101", state="stopped")
    result = recover(services, [NodeInfo("pve1", False, maintenance=True), *nodes("pve2", "pve3")])
    assert result["vm:100"].new_node == "pve2"
    assert result["vm:101"].outcome == "not-recovered"


# --- recovery -------------------------------------------------------------------------------


def test_recovery_runs_in_sid_string_order_and_updates_usage() -> None:
    # Perl sorts sids as strings: ct:300 < vm:1000 < vm:200. Each recovery loads its node.
    failed = on("pve3", "vm:200", "ct:300", "vm:1000")
    result = recover(failed, nodes(*PVE, down={"pve3"}))
    assert [r.sid for r in result.recoveries] == ["ct:300", "vm:1000", "vm:200"]
    assert [r.new_node for r in result.recoveries] == ["pve1", "pve2", "pve1"]


def test_disabled_and_ignored_are_not_recovered_stopped_is_relocated() -> None:
    failed = (
        on("pve3", "vm:100")
        + on("pve3", "vm:101", state="stopped")
        + on("pve3", "vm:102", state="disabled")
        + on("pve3", "vm:103", state="ignored")
        + on("pve1", "vm:200")
    )
    result = recover(failed, nodes(*PVE, down={"pve3"}))
    outcome = {r.sid: (r.outcome, r.new_node, r.state) for r in result.recoveries}
    assert outcome == {
        "vm:100": ("recovered", "pve2", "started"),
        "vm:101": ("recovered", "pve1", "stopped"),  # pve2 now has vm:100; stays stopped
        "vm:102": ("not-recovered", None, "disabled"),
        "vm:103": ("not-recovered", None, "ignored"),
    }
    assert "vm:200" not in {r.sid for r in result.recoveries}


def test_in_recovery_limits_recovery_to_the_named_services() -> None:
    # vm:101's node is still being fenced: it is not placed and loads nothing.
    services = on("pve1", "vm:100", "vm:101")
    result = recover(services, nodes(*PVE, down={"pve1"}), in_recovery=["vm:100"])
    assert [(r.sid, r.new_node) for r in result.recoveries] == [("vm:100", "pve2")]
    with pytest.raises(ValueError, match="unknown service"):
        recover(services, nodes(*PVE), in_recovery=["vm:999"])


def test_also_in_recovery_adds_to_the_default_selection() -> None:
    # vm:200 stayed in recovery in an earlier round although pve3 is back: it is placed
    # again with the best score, next to vm:100 from the node that is down now; vm:300 on a
    # healthy node is left alone.
    services = [*on("pve1", "vm:100"), *on("pve3", "vm:200"), *on("pve2", "vm:300")]
    down = nodes(*PVE, down={"pve1"})
    plain = recover(services, down)
    assert [r.sid for r in plain.recoveries] == ["vm:100"]
    result = recover(services, down, also_in_recovery=["vm:200"])
    assert [r.sid for r in result.recoveries] == ["vm:100", "vm:200"]
    # vm:100 ties pve2/pve3 at one service each (name wins); vm:200 then finds pve3 least loaded
    assert result.placements == {"vm:100": "pve2", "vm:200": "pve3"}
    assert result["vm:200"].reason.startswith("back on pve3, its own node, online again")
    with pytest.raises(ValueError, match="unknown service"):
        recover(services, down, also_in_recovery=["vm:999"])


def test_recovery_result_placements() -> None:
    result = recover(on("pve1", "vm:100", "vm:101"), nodes(*PVE, down={"pve1"}))
    assert result.placements == {"vm:100": "pve2", "vm:101": "pve3"}
    assert result.unplaceable == ()
    with pytest.raises(KeyError):
        result["vm:999"]


# --- failback and try-next ----------------------------------------------------------------


def test_failback_only_moves_running_services() -> None:
    config = HAConfig(groups=[Group("web", {"pve1": 1})])
    services = [Service("vm:100", "pve2", group="web"), Service("vm:101", "pve2", "stopped", group="web")]
    assert failback_moves(services, nodes(*PVE), config) == [("vm:100", "pve2", "pve1")]


def test_failback_resource_flag_pve9() -> None:
    config = rules(node_affinity("prefer", ["vm:100", "vm:101"], {"pve1": 1}))
    services = [Service("vm:100", "pve2"), Service("vm:101", "pve2", failback=False)]
    assert failback_moves(services, nodes(*PVE), config) == [("vm:100", "pve2", "pve1")]


def test_try_next_takes_the_node_after_the_current_one_and_skips_tried_nodes() -> None:
    svc = Service("vm:100", "pve2")
    others = on("pve1", "vm:1", "vm:2") + on("pve3", "vm:3", "vm:4", "vm:5")
    cluster = nodes(*PVE)

    def pick(tried: tuple[str, ...]) -> str | None:
        return select_service_node(svc, cluster, [svc, *others], try_next=True, tried_nodes=tried)

    # score order is pve2 (1), pve1 (2), pve3 (3): the node after the current one
    assert pick(()) == "pve1"
    reason = explain_service_node(svc, cluster, [svc, *others], try_next=True).reason
    assert "next after pve2 in score order" in reason
    assert pick(("pve2",)) == "pve1"
    assert pick(("pve2", "pve1")) == "pve3"
    assert pick(PVE) is None


# --- input checks ---------------------------------------------------------------------------


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate service"):
        recover([Service("vm:1", "pve1"), Service("vm:1", "pve2")], nodes(*PVE))
    with pytest.raises(ValueError, match="duplicate node"):
        recover([], [*nodes(*PVE), NodeInfo("pve1", True)])
    with pytest.raises(ValueError, match="unknown HA state"):
        Service("vm:1", "pve1", "running")  # type: ignore[arg-type]
