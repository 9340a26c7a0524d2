"""A stored plan whose actions differ from the recomputed plan is refused, however it
was changed (and re-sealed): apply never runs what the stack and cluster do not call for."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from plan_helpers import Observe

from provision.plan import make_plan
from provision.plan.replan import plan_file_mismatch
from provision.spec import Cluster


@pytest.fixture
def document(lab_stack: Cluster, observe: Observe) -> dict[str, Any]:
    d = observe("blank-pve8")
    return make_plan(lab_stack, d.cluster, d.observed).to_document()


def test_the_same_plan_matches(document: dict[str, Any]) -> None:
    assert plan_file_mismatch(copy.deepcopy(document), document) is None


def test_an_injected_action_is_refused(document: dict[str, Any]) -> None:
    stored = copy.deepcopy(document)
    stored["actions"].append({"id": 'ha.resource["vm:100"]#remove', "kind": "ha_resource_remove",
                              "phase": "destroy_ha_resources", "params": {"sid": "vm:100"}, "destructive": False})
    assert "do not call for: ha.resource" in str(plan_file_mismatch(stored, document))


def test_a_dropped_action_is_refused(document: dict[str, Any]) -> None:
    stored = copy.deepcopy(document)
    stored["actions"].pop(3)
    assert "lacks action(s)" in str(plan_file_mismatch(stored, document))


def test_retyped_params_and_moved_nodes_are_refused(document: dict[str, Any]) -> None:
    stored = copy.deepcopy(document)
    pool = next(a for a in stored["actions"] if a["kind"] == "ceph_pool_create")
    pool["params"]["size"] = 1
    assert "its params in the plan file" in str(plan_file_mismatch(stored, document))
    stored = copy.deepcopy(document)
    osd = next(a for a in stored["actions"] if a["kind"] == "ceph_osd_create")
    osd["node"] = "pve03" if osd["node"] != "pve03" else "pve02"
    assert "its node in the plan file" in str(plan_file_mismatch(stored, document))
