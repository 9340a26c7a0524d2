"""HA placement rules through the simulator: PVE 8 groups, PVE 9 rules, CRS modes, failback."""

from __future__ import annotations

from sim_builders import LAB_STACK, PVE9_STACK, guest, make_cluster, simulate

from provision.simulate import ScenarioResult
from provision.simulate.ha import ServiceOutcome
from provision.spec import load_stack


def services(result: ScenarioResult, step: int = 0) -> dict[str, ServiceOutcome]:
    return {s.sid: s for s in result.steps[step].services}


def where(result: ScenarioResult, step: int = -1) -> dict[str, str | None]:
    return {s.sid: s.after for s in result.steps[step].services}


# --- PVE 8 groups -------------------------------------------------------------------------


def test_lab_stack_fail_pve01_moves_web_services_to_the_other_priority_two_node() -> None:
    result = simulate(load_stack(LAB_STACK).cluster, fail=["pve01"])
    svc = services(result)
    assert where(result) == {"ct:200": "pve02", "vm:100": "pve02", "vm:101": "pve02", "vm:102": "pve03"}
    assert svc["vm:100"].action == "recovered" and "group web" in svc["vm:100"].reason
    assert svc["vm:101"].action == "stays"


def test_restricted_group_never_falls_back_to_a_non_member() -> None:
    # lab: db = {pve03: 2, pve02: 1}, restricted. Losing pve03 sends vm:102 to pve02, never pve01.
    result = simulate(load_stack(LAB_STACK).cluster, fail=["pve03"])
    assert where(result)["vm:102"] == "pve02"


def group_cluster(*, restricted: bool = False, nofailback: bool = False, n: int = 3) -> object:
    return make_cluster(
        n,
        ha={
            "groups": [{"name": "g", "nodes": {"pve01": 2, "pve02": 1}, "restricted": restricted,
                        "nofailback": nofailback}],
            "resources": [{"sid": "vm:100", "group": "g"}, {"sid": "vm:101"}],
        },
        guests=[guest("vm:100", "pve01"), guest("vm:101", "pve02")],
    )


def test_group_priority_picks_the_next_member_then_fails_back() -> None:
    result = simulate(group_cluster(n=5), fail=["pve01"], recover=["pve01"])  # type: ignore[arg-type]
    first, back = services(result, 0)["vm:100"], services(result, 1)["vm:100"]
    assert (first.before, first.after, first.action) == ("pve01", "pve02", "recovered")
    assert (back.before, back.after, back.action) == ("pve02", "pve01", "moved")
    assert "pve01" in back.reason


def test_group_nofailback_stays_on_the_recovery_node() -> None:
    result = simulate(group_cluster(n=5, nofailback=True), fail=["pve01"], recover=["pve01"])  # type: ignore[arg-type]
    back = services(result, 1)["vm:100"]
    assert (back.after, back.action) == ("pve02", "stays")


def test_unrestricted_group_falls_back_to_any_node_when_no_member_is_online() -> None:
    result = simulate(group_cluster(n=5), fail=["pve01", "pve02"])  # type: ignore[arg-type]
    svc = services(result)["vm:100"]
    assert svc.action == "recovered" and svc.after in ("pve03", "pve04", "pve05")
    assert "falling back" in svc.reason


def test_restricted_group_with_no_member_online_loses_the_service() -> None:
    result = simulate(group_cluster(n=5, restricted=True), fail=["pve01", "pve02"])  # type: ignore[arg-type]
    svc = services(result)["vm:100"]
    assert svc.action == "lost" and not svc.running_after
    assert result.status == "unavailable"


def test_basic_crs_picks_the_node_with_fewest_services() -> None:
    cluster = make_cluster(
        3,
        ha={"resources": [{"sid": s} for s in ("vm:100", "vm:101", "vm:102", "vm:103")]},
        guests=[guest("vm:100", "pve01"), guest("vm:101", "pve02", memory_mib=60000),
                guest("vm:102", "pve03", memory_mib=1024), guest("vm:103", "pve03", memory_mib=1024)],
    )
    assert where(simulate(cluster, fail=["pve01"]))["vm:100"] == "pve02"


# --- PVE 9 rules --------------------------------------------------------------------------


def test_static_crs_places_by_memory_and_cpu_not_service_count() -> None:
    cluster = make_cluster(
        3,
        version=9,
        ha={"crs": "static", "resources": [{"sid": s} for s in ("vm:100", "vm:101", "vm:102", "vm:103")]},
        guests=[guest("vm:100", "pve01"), guest("vm:101", "pve02", memory_mib=60000, cores=12),
                guest("vm:102", "pve03", memory_mib=1024, cores=1), guest("vm:103", "pve03", memory_mib=1024, cores=1)],
    )
    result = simulate(cluster, fail=["pve01"])
    svc = services(result)["vm:100"]
    # basic would pick pve02 (1 service against 2); static sees pve02's memory is nearly full.
    assert svc.after == "pve03" and "static CRS" in svc.reason


def test_pve9_example_strict_rule_and_negative_affinity() -> None:
    cluster = load_stack(PVE9_STACK).cluster
    result = simulate(cluster, fail=["pve04", "pve05"])
    svc = services(result)
    # db-apart: vm:111 must not join vm:110 on pve03.
    assert svc["vm:111"].action == "recovered" and svc["vm:111"].after != "pve03"
    assert "negative resource affinity" in svc["vm:111"].reason
    # licensed: strict to pve04/pve05, both down -> not running anywhere.
    assert svc["vm:120"].action == "lost"


def test_strict_rule_service_is_recovered_when_an_allowed_node_returns() -> None:
    result = simulate(load_stack(PVE9_STACK).cluster, fail=["pve04", "pve05"], recover=["pve04"])
    back = services(result, 1)["vm:120"]
    assert (back.after, back.action, back.running_after) == ("pve04", "recovered", True)


def test_node_affinity_priority_and_failback() -> None:
    result = simulate(load_stack(PVE9_STACK).cluster, fail=["pve01"], recover=["pve01"])
    rec, back = services(result, 0)["vm:100"], services(result, 1)["vm:100"]
    assert rec.after == "pve02" and "web-prefer" in rec.reason  # pve02 shares priority 2 with pve01
    # Equal priority: the returning pve01 is not better than pve02, so no failback.
    assert back.after == "pve02" and back.action == "stays"


def rules_cluster(failback: bool) -> object:
    return make_cluster(
        4,
        version=9,
        ha={
            "resources": [{"sid": "vm:100", "failback": failback}, {"sid": "vm:101"}],
            "rules": [{"type": "node-affinity", "name": "pref", "resources": ["vm:100"],
                       "nodes": {"pve01": 3, "pve02": 2, "pve03": 1}}],
        },
        guests=[guest("vm:100", "pve01"), guest("vm:101", "pve02")],
    )


def test_pve9_failback_moves_back_to_the_higher_priority_node() -> None:
    result = simulate(rules_cluster(True), fail=["pve01"], recover=["pve01"])  # type: ignore[arg-type]
    assert services(result, 0)["vm:100"].after == "pve02"
    back = services(result, 1)["vm:100"]
    assert (back.after, back.action) == ("pve01", "moved")


def test_pve9_failback_off_stays() -> None:
    result = simulate(rules_cluster(False), fail=["pve01"], recover=["pve01"])  # type: ignore[arg-type]
    back = services(result, 1)["vm:100"]
    assert (back.after, back.action) == ("pve02", "stays")
    assert "failback is off" in back.reason


def test_positive_resource_affinity_keeps_services_together() -> None:
    cluster = make_cluster(
        4,
        version=9,
        ha={
            "resources": [{"sid": "vm:100"}, {"sid": "vm:101"}, {"sid": "vm:102"}],
            "rules": [{"type": "resource-affinity", "name": "pair", "resources": ["vm:100", "vm:101"],
                       "affinity": "positive"}],
        },
        guests=[guest("vm:100", "pve01"), guest("vm:101", "pve01"), guest("vm:102", "pve02")],
    )
    after = where(simulate(cluster, fail=["pve01"]))
    assert after["vm:100"] == after["vm:101"] and after["vm:100"] in ("pve03", "pve04")


def test_disabled_and_ignored_resources_are_not_recovered_and_stopped_is_relocated() -> None:
    cluster = make_cluster(
        3,
        ha={"resources": [{"sid": "vm:100", "state": "disabled"}, {"sid": "vm:101", "state": "ignored"},
                          {"sid": "vm:102", "state": "stopped"}, {"sid": "vm:103"}]},
        guests=[guest(s, "pve01") for s in ("vm:100", "vm:101", "vm:102", "vm:103")],
    )
    svc = services(simulate(cluster, fail=["pve01"]))
    assert (svc["vm:100"].after, svc["vm:100"].action) == ("pve01", "disabled")
    assert (svc["vm:101"].after, svc["vm:101"].action) == ("pve01", "lost")  # HA leaves it down with pve01
    assert svc["vm:102"].action == "relocated-stopped" and svc["vm:102"].after != "pve01"
    assert not svc["vm:102"].running_after
    assert svc["vm:103"].action == "recovered"


def test_resources_without_guest_entries_start_on_their_best_node() -> None:
    cluster = make_cluster(
        3,
        ha={"groups": [{"name": "g", "nodes": {"pve03": 1}}], "resources": [{"sid": "vm:100", "group": "g"}]},
    )
    result = simulate(cluster, fail=["pve01"])
    assert services(result)["vm:100"].before == "pve03"
    assert services(result)["vm:100"].action == "stays"


def test_service_left_in_recovery_is_placed_by_score_not_put_back_on_its_old_node() -> None:
    # vm:120 may run on pve04 or pve05, vm:101 only on pve05; both start on pve05.
    cluster = make_cluster(
        5,
        version=9,
        ha={
            "resources": [{"sid": "vm:101"}, {"sid": "vm:120"}],
            "rules": [
                {"type": "node-affinity", "name": "lic", "resources": ["vm:120"], "nodes": {"pve04": 1, "pve05": 1},
                 "strict": True},
                {"type": "node-affinity", "name": "only5", "resources": ["vm:101"], "nodes": {"pve05": 1},
                 "strict": True},
            ],
        },
        guests=[guest("vm:101", "pve05"), guest("vm:120", "pve05")],
    )
    result = simulate(cluster, fail=["pve04", "pve05"], recover=["pve04", "pve05"])
    assert {s.sid: s.action for s in result.steps[0].services} == {"vm:101": "lost", "vm:120": "lost"}
    back = services(result, 1)
    # Both are in recovery; in sid order vm:101 takes pve05, so vm:120 goes to the emptier pve04.
    assert (back["vm:101"].after, back["vm:101"].action) == ("pve05", "recovered")
    assert (back["vm:120"].after, back["vm:120"].action) == ("pve04", "recovered")
