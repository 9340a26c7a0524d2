"""Quorum through the simulator: node failures, splits, QDevice algorithms, corosync links."""

from __future__ import annotations

import pytest
from sim_builders import guest, make_cluster, simulate

from provision.simulate import EventError


def partitions(result_step: object) -> list[tuple[list[str], int, bool]]:
    member = result_step.membership  # type: ignore[attr-defined]
    return [(sorted(p.nodes), p.votes, p.quorate) for p in member.partitions]


def test_three_nodes_one_down_keeps_quorum() -> None:
    step = simulate(make_cluster(3), fail=["pve01"]).steps[0]
    assert partitions(step) == [(["pve02", "pve03"], 2, True)]
    q = step.membership.quorate
    assert q is not None and (q.expected, q.threshold) == (3, 2)
    assert step.membership.down == ("pve01",)
    assert "fenced" in step.fencing["pve01"]


def test_three_nodes_two_down_loses_quorum_and_nothing_recovers() -> None:
    cluster = make_cluster(
        3,
        ha={"resources": [{"sid": "vm:100"}, {"sid": "vm:101"}]},
        guests=[guest("vm:100", "pve01"), guest("vm:101", "pve03")],
    )
    result = simulate(cluster, fail=["pve01", "pve02"])
    step = result.steps[0]
    assert partitions(step) == [(["pve03"], 1, False)]
    assert step.membership.quorate is None
    by_sid = {s.sid: s for s in step.services}
    # No partition is quorate: the CRM does nothing, nothing moves, everything is down.
    assert by_sid["vm:100"].after == "pve01" and by_sid["vm:100"].action == "lost"
    assert by_sid["vm:101"].after == "pve03" and not by_sid["vm:101"].running_after
    assert "self-fence" in step.fencing["pve03"]
    assert result.status == "unavailable"
    assert any("no partition is quorate" in m for m in result.unavailable)


def test_four_nodes_two_two_split_without_qdevice_has_no_quorum() -> None:
    step = simulate(make_cluster(4), partition=["pve01,pve02/pve03,pve04"]).steps[0]
    assert partitions(step) == [(["pve01", "pve02"], 2, False), (["pve03", "pve04"], 2, False)]
    assert step.status == "unavailable"


def test_four_nodes_two_two_split_ffsplit_gives_the_vote_to_the_lowest_node_id() -> None:
    cluster = make_cluster(
        4,
        qdevice={"algorithm": "ffsplit"},
        ha={"resources": [{"sid": "vm:100"}]},
        guests=[guest("vm:100", "pve04")],
    )
    step = simulate(cluster, partition=["pve03,pve04/pve01,pve02"]).steps[0]
    assert partitions(step) == [(["pve01", "pve02"], 3, True), (["pve03", "pve04"], 2, False)]
    q = step.membership.quorate
    assert q is not None and (q.expected, q.threshold, q.qdevice_votes) == (5, 3, 1)
    # The losing half self-fences (it runs vm:100) and vm:100 is recovered on the winning half.
    assert "self-fence" in step.fencing["pve04"]
    assert "not reset" in step.fencing["pve03"]
    (svc,) = step.services
    assert (svc.before, svc.action) == ("pve04", "recovered") and svc.after in ("pve01", "pve02")


def test_two_nodes_without_qdevice_lose_quorum_with_either_node() -> None:
    step = simulate(make_cluster(2), fail=["pve02"]).steps[0]
    assert partitions(step) == [(["pve01"], 1, False)]


def test_two_nodes_with_ffsplit_qdevice_survive_one_failure() -> None:
    step = simulate(make_cluster(2, qdevice={"algorithm": "ffsplit"}), fail=["pve02"]).steps[0]
    assert partitions(step) == [(["pve01"], 2, True)]
    q = step.membership.quorate
    assert q is not None and (q.expected, q.threshold) == (3, 2)


@pytest.mark.parametrize(("split", "winner"), [("pve01,qdevice/pve02", "pve01"), ("pve01/pve02,qdevice", "pve02")])
def test_two_node_split_goes_to_the_side_that_reaches_qnetd(split: str, winner: str) -> None:
    step = simulate(make_cluster(2, qdevice={"algorithm": "ffsplit"}), partition=[split]).steps[0]
    q = step.membership.quorate
    assert q is not None and sorted(q.nodes) == [winner]


def test_two_nodes_qdevice_and_a_node_down_is_not_quorate() -> None:
    cluster = make_cluster(2, qdevice={"algorithm": "ffsplit"})
    assert simulate(cluster, fail=["qdevice"]).steps[0].membership.quorate is not None
    step = simulate(cluster, fail=["qdevice", "pve02"]).steps[0]
    assert partitions(step) == [(["pve01"], 1, False)]


def test_lms_lets_the_last_node_standing_keep_quorum() -> None:
    cluster = make_cluster(3, qdevice={"algorithm": "lms"})
    step = simulate(cluster, fail=["pve01", "pve02"]).steps[0]
    # lms: qdevice votes = 3 - 1 = 2, expected 5, threshold 3; pve03 has 1 + 2.
    assert partitions(step) == [(["pve03"], 3, True)]
    # ffsplit cannot exist on 3 nodes (pvecm sets up lms there): compare with no QDevice
    no_lms = simulate(make_cluster(3), fail=["pve01", "pve02"]).steps[0]
    assert no_lms.membership.quorate is None


def test_votes_count_not_nodes() -> None:
    cluster = make_cluster(3, votes={"pve01": 3})
    step = simulate(cluster, partition=["pve01/pve02,pve03"]).steps[0]
    assert partitions(step) == [(["pve01"], 3, True), (["pve02", "pve03"], 2, False)]


def test_one_link_down_of_two_keeps_membership() -> None:
    cluster = make_cluster(3, links=2, ha={"resources": [{"sid": "vm:100"}]}, guests=[guest("vm:100", "pve01")])
    step = simulate(cluster, link_down=["pve01:0"]).steps[0]
    assert partitions(step) == [(["pve01", "pve02", "pve03"], 3, True)]
    assert step.services[0].action == "stays"
    assert step.status == "ok"


def test_both_links_down_isolate_the_node_and_its_services_are_recovered() -> None:
    cluster = make_cluster(3, links=2, ha={"resources": [{"sid": "vm:100"}]}, guests=[guest("vm:100", "pve01")])
    step = simulate(cluster, link_down=["pve01:0", "pve01:1"]).steps[0]
    assert partitions(step) == [(["pve01"], 1, False), (["pve02", "pve03"], 2, True)]
    assert "self-fence" in step.fencing["pve01"]
    svc = step.services[0]
    assert svc.action == "recovered" and svc.after in ("pve02", "pve03")


def test_single_link_down_on_a_one_link_cluster_isolates_the_node() -> None:
    step = simulate(make_cluster(3, links=1), link_down=["pve02:0"]).steps[0]
    assert partitions(step) == [(["pve01", "pve03"], 2, True), (["pve02"], 1, False)]


def test_different_links_down_on_two_nodes_is_flagged_as_not_fully_meshed() -> None:
    # pve01 only has link 1, pve02 only link 0: they cannot talk, but both talk to pve03.
    step = simulate(make_cluster(3, links=2), link_down=["pve01:0", "pve02:1"]).steps[0]
    assert partitions(step) == [(["pve01", "pve02", "pve03"], 3, True)]
    assert step.membership.warnings and "pve01-pve02" in step.membership.warnings[0]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"fail": ["pve9"]}, "unknown node 'pve9'"),
        ({"link_down": ["pve01:5"]}, "no corosync link 5"),
        ({"link_down": ["pve01"]}, "expected NODE:LINK"),
        ({"partition": ["pve01,pve02/pve01"]}, "more than one group"),
        ({"fail": ["pve01"], "recover": ["pve02"]}, "not failed"),
    ],
)
def test_bad_events_are_clear_errors(flags: dict[str, list[str]], message: str) -> None:
    with pytest.raises(EventError, match=message):
        simulate(make_cluster(3), **flags)
