"""Network reloads in batches: nodes not yet in the cluster all at once, members as many
at a time as the cluster can lose and stay quorate (QDevice included) with a MON
majority; the safety replay checks each batch as a whole (provision/actions/safety.py)."""

from __future__ import annotations

from typing import Any

import pytest
from plan_helpers import Observe

from provision.actions import ActionId, Kind, Phase, Replay
from provision.actions import params as P
from provision.actions.safety import Reload, reload_batches, reload_risk
from provision.crm.quorum import QDevice
from provision.plan import Action, PlanError, make_plan
from provision.plan.order import check_safety
from provision.spec import Cluster


def _cluster(n: int, qdevice: QDevice | None = None, mons: int = 0) -> Replay:
    names = [f"pve{i:02d}" for i in range(1, n + 1)]
    return Replay(members=set(names), online=set(names), votes=dict.fromkeys(names, 1),
                  nodeids={name: i for i, name in enumerate(names, start=1)}, desired_votes={}, qdevice=qdevice,
                  mons={name: True for name in names[:mons]})


def _reloads(n: int, corosync: bool = True, ceph: bool = False) -> list[Reload]:
    return [Reload(f"pve{i:02d}", corosync, ceph) for i in range(1, n + 1)]


def _votes_left(state: Replay, batch: list[Reload]) -> int:
    return sum(state.votes[n] for n in state.online - {r.node for r in batch})


def test_three_members_reload_one_at_a_time() -> None:
    state = _cluster(3)
    for corosync in (True, False):  # several members together count as out whatever they change
        assert [[r.node for r in b] for b in reload_batches(state, _reloads(3, corosync))] == [
            ["pve01"], ["pve02"], ["pve03"]]


def test_32_members_go_in_batches_that_keep_17_votes() -> None:
    state = _cluster(32)
    batches = reload_batches(state, _reloads(32))
    assert [len(b) for b in batches] == [15, 15, 2]
    assert [r.node for b in batches for r in b] == [f"pve{i:02d}" for i in range(1, 33)]
    assert all(_votes_left(state, b) >= 17 for b in batches)
    assert (reload_risk(state, _reloads(16)) or "").startswith("reloading the networks of " + ", ".join(
        f"pve{i:02d}" for i in range(1, 17)) + " at once would leave the rest not quorate: 16 of 32 votes, need 17")


def test_a_qdevice_vote_counts() -> None:
    # 4 nodes + an ffsplit QDevice: 5 votes, quorum 3; two nodes and the QDevice keep it
    assert [len(b) for b in reload_batches(_cluster(4, QDevice("ffsplit")), _reloads(4))] == [2, 2]
    assert [len(b) for b in reload_batches(_cluster(4), _reloads(4))] == [1, 1, 1, 1]


def test_a_majority_of_monitors_stays_up() -> None:
    # 7 members (4 may go) but 3 MONs on pve01-03: never two of them in one batch
    batches = reload_batches(_cluster(7, mons=3), _reloads(7, ceph=True))
    assert [[r.node for r in b] for b in batches] == [["pve01", "pve04", "pve05"], ["pve02", "pve06", "pve07"],
                                                      ["pve03"]]


def test_nodes_outside_the_cluster_all_go_first_and_together() -> None:
    state = _cluster(3)
    new = [Reload(f"pve{i:02d}", True, True) for i in range(4, 9)]
    batches = reload_batches(state, [*_reloads(3), *new])
    assert [sorted(r.node for r in b) for b in batches] == [
        ["pve01", "pve04", "pve05", "pve06", "pve07", "pve08"], ["pve02"], ["pve03"]]


def _net(node: str, after: list[str]) -> Action:
    return Action(id=ActionId.parse(f'network["{node}"]#apply'), phase=Phase.NETWORK, kind=Kind.NETWORK_APPLY,
                  params=P.NetworkApply(interfaces=[], changed=["vmbr0"]), node=node,
                  depends_on=[ActionId.parse(f'network["{a}"]#apply') for a in after])


def _drift_all(data: dict[str, Any]) -> None:
    for node in ("pve01", "pve02", "pve03"):  # bond0 carries corosync link 0
        bond0 = next(i for i in data[f"/nodes/{node}/network"] if i.get("iface") == "bond0")
        bond0["bond_miimon"] = "200"


def test_members_of_the_reference_cluster_are_chained(lab_stack: Cluster, observe: Observe) -> None:
    d = observe("built-pve8", _drift_all)
    nets = make_plan(lab_stack, d.cluster, d.observed).actions
    assert [(a.kind, a.node, [str(x) for x in a.depends_on]) for a in nets] == [
        ("network_apply", "pve01", []), ("network_apply", "pve02", ['network["pve01"]#apply']),
        ("network_apply", "pve03", ['network["pve02"]#apply'])]


def test_the_replay_checks_a_batch_as_a_whole(lab_stack: Cluster, observe: Observe) -> None:
    d = observe("built-pve8")
    chained = [_net("pve01", []), _net("pve02", ["pve01"])]
    check_safety(chained, lab_stack, d.cluster, d.observed)
    together = [_net("pve01", []), _net("pve02", [])]  # a hand-made plan: both in one play
    with pytest.raises(PlanError, match=r"reloading the networks of pve01, pve02 at once would leave the rest not "
                                        r"quorate: 1 of 3 votes, need 2"):
        check_safety(together, lab_stack, d.cluster, d.observed)
