"""Each `ha_resource_add` runs on the node of its guest, so a big build's adds are one
batch per node and the batches run side by side (provision/plan/ha_hosts.py)."""

from __future__ import annotations

from plan_helpers import Observe

from provision.discover.observed import MemberState, Observed
from provision.plan import make_plan
from provision.plan.ha_hosts import ha_add_nodes
from provision.spec import Cluster

SIDS = ["ct:200", "vm:100", "vm:101", "vm:102"]


def test_the_full_build_adds_each_resource_on_its_guests_node(lab_stack: Cluster, observe: Observe) -> None:
    d = observe("blank-pve8")
    plan = make_plan(lab_stack, d.cluster, d.observed)
    nodes = {a.params.sid: a.node for a in plan.actions if a.kind.value == "ha_resource_add"}  # type: ignore[attr-defined]
    guests = {g.sid: g.node for g in lab_stack.guests}
    assert nodes == {sid: guests[sid] for sid in SIDS}
    assert len(set(nodes.values())) == 3


def test_guests_nobody_knows_are_spread_and_offline_nodes_get_none(lab_stack: Cluster) -> None:
    no_guests = lab_stack.model_copy(update={"guests": []})
    spread = ha_add_nodes(SIDS, no_guests, no_guests, None)
    assert spread == {"ct:200": "pve01", "vm:100": "pve02", "vm:101": "pve03", "vm:102": "pve01"}
    facts = Observed(members={"pve01": MemberState("pve01", 1, 1, False), "pve02": MemberState("pve02", 2, 1, True)})
    placed = ha_add_nodes(SIDS, lab_stack, no_guests, facts)
    assert "pve01" not in placed.values()  # ct:200 and vm:100 run on pve01, which is off
    assert placed["vm:101"] == "pve02" and placed["vm:102"] == "pve03"
    assert ha_add_nodes(SIDS, lab_stack, no_guests, None) == {"ct:200": "pve01", "vm:100": "pve01",
                                                              "vm:101": "pve02", "vm:102": "pve03"}
