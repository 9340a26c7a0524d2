"""Ordering: phases, serial chains, reversed deletions, quorum and MON safety, cycles, targets."""

from __future__ import annotations

from typing import Any

import pytest
from plan_helpers import Observe, stack_from

from provision.actions import ActionId, Kind, Phase
from provision.actions import params as P
from provision.plan import Action, PlanError, make_plan, order_actions
from provision.spec import Address, Cluster


def kinds_in_order(actions: list[Action], prefix: str) -> list[str]:
    out: list[str] = []
    for a in actions:
        if a.kind.startswith(prefix) and (not out or out[-1] != a.kind):
            out.append(a.kind)
    return out


def test_full_build_phase_order(lab_stack: Cluster, observe: Observe) -> None:
    d = observe("blank-pve8")
    plan = make_plan(lab_stack, d.cluster, d.observed)
    doc = plan.to_document()
    assert [p["name"] for p in doc["phases"]] == [
        "network", "cluster", "ceph", "storage", "ha_groups", "ha_resources"]
    assert kinds_in_order(plan.actions, "ceph_") == [
        "ceph_install", "ceph_init", "ceph_mon_create", "ceph_mgr_create", "ceph_osd_create", "ceph_pool_create",
        "ceph_mds_create", "ceph_fs_create"]
    assert [a.step for a in plan.actions] == list(range(1, len(plan.actions) + 1))
    by_id = {str(a.id): a for a in plan.actions}
    for a in plan.actions:  # every dependency runs earlier
        assert all(by_id[str(dep)].step < a.step for dep in a.depends_on), a.id
    # the first monitor also creates the manager on its node (pveceph does)
    first_mon = by_id['ceph.mon["pve01"]#create']
    assert 'ceph.mgr["pve01"]' in first_mon.changes
    assert 'ceph.mgr["pve01"]#create' not in by_id

    def deps(aid: str) -> set[str]:
        return {str(d) for d in by_id[aid].depends_on}

    # blank nodes get Ceph installed (the stack's release and repository) before pveceph init
    installs = [a for a in plan.actions if a.kind == "ceph_install"]
    assert sorted(a.node or "" for a in installs) == ["pve01", "pve02", "pve03"]
    assert {(a.params.release, a.params.repository) for a in installs  # type: ignore[attr-defined]
            } == {("reef", "no-subscription")}
    assert {str(a.id) for a in installs} <= deps("ceph#init")

    # an RBD storage waits for its pool, a CephFS storage for its file system
    assert 'ceph.pool["vm-pool"]#create' in deps('storage["ceph-vm"]#add')
    assert 'ceph.fs["cephfs"]#create' in deps('storage["cephfs"]#add')
    # HA resources wait for their group
    assert 'ha.group["db"]#add' in deps('ha.resource["vm:102"]#add')


def test_cluster_created_on_first_node_and_joins_are_serial(lab_stack: Cluster, observe: Observe) -> None:
    d = observe("blank-pve8")
    actions = make_plan(lab_stack, d.cluster, d.observed).actions
    trust = [a for a in actions if a.kind == "ssh_trust"]
    # each join over SSH first gets root SSH trust to the node it joins through
    assert [(a.node, a.params.peer, a.params.peer_address) for a in trust] == [  # type: ignore[attr-defined]
        ("pve02", "pve01", "192.168.10.11"), ("pve03", "pve01", "192.168.10.11")]
    for t in trust:
        join = next(a for a in actions if a.kind == "cluster_join" and a.node == t.node)
        assert t.id in join.depends_on and t.step < join.step
    cluster = [a for a in actions if a.phase == "cluster" and a.kind != "ssh_trust"]
    assert [(a.kind, a.node) for a in cluster] == [
        ("cluster_create", "pve01"), ("cluster_join", "pve02"), ("cluster_join", "pve03")]
    assert isinstance(cluster[0].params, P.ClusterCreate) and isinstance(cluster[2].params, P.ClusterJoin)
    assert [(k.number, k.address, k.priority) for k in cluster[0].params.links] == [
        (0, "10.10.10.11", 20), (1, "10.10.11.11", 10)]
    assert [(k.number, k.address, k.priority) for k in cluster[2].params.links] == [
        (0, "10.10.10.13", None), (1, "10.10.11.13", None)]
    assert all(a.serial for a in cluster)
    assert ActionId.parse("cluster#create") in cluster[1].depends_on
    assert ActionId.parse('node["pve02"]#join') in cluster[2].depends_on


def test_mons_one_per_step_and_blank_nodes_reload_together(lab_stack: Cluster, observe: Observe) -> None:
    d = observe("blank-pve8")
    actions = make_plan(lab_stack, d.cluster, d.observed).actions
    mons = [a for a in actions if a.kind == "ceph_mon_create"]
    assert [a.node for a in mons] == ["pve01", "pve02", "pve03"] and all(a.serial for a in mons)
    assert mons[1].id in mons[2].depends_on and mons[0].id in mons[1].depends_on
    nets = [a for a in actions if a.kind == "network_apply"]
    assert [a.node for a in nets] == ["pve01", "pve02", "pve03"]
    # no node is a cluster member yet: nothing to keep quorate, all reload at once
    assert [a.depends_on for a in nets] == [[], [], []] and not any(a.serial for a in nets)
    # the full desired interface set of the node, so apply can render the file
    assert isinstance(nets[0].params, P.NetworkApply)
    assert [i["name"] for i in nets[0].params.interfaces] == [
        "eno1", "eno2", "eno3", "eno4", "enp65s0f0", "enp65s0f1", "vmbr0", "bond0", "bond1", "bond1.20", "bond1.30"]


def _extras(data: dict[str, Any]) -> None:
    data["/cluster/ha/resources"].append({"sid": "vm:105", "type": "vm"})
    data["/storage"].append({"storage": "old-nfs", "type": "nfs", "server": "10.0.0.5", "export": "/x",
                             "content": "images"})
    data["/nodes/pve01/ceph/pool"].append({"pool_name": "old-pool", "size": 3, "min_size": 2, "pg_num": 32,
                                           "pg_autoscale_mode": "warn", "application_metadata": {"rbd": {}}})


def test_deletions_run_last_in_reverse_order(lab_stack: Cluster, observe: Observe) -> None:
    d = observe("built-pve8", _extras)
    kept = make_plan(lab_stack, d.cluster, d.observed)
    assert kept.actions == [] and kept.summary() == {"add": 0, "change": 0, "destroy": 0, "unmanaged": 3}
    pruned = make_plan(lab_stack, d.cluster, d.observed, prune=True)
    assert [(a.phase, a.kind, a.destructive) for a in pruned.actions] == [
        ("destroy_ha_resources", "ha_resource_remove", False),
        ("destroy_storage", "storage_remove", True),
        ("destroy_ceph", "ceph_pool_destroy", True),
    ]
    assert pruned.summary()["destroy"] == 3


def test_network_reload_that_would_lose_quorum_is_refused(lab_stack: Cluster, observe: Observe) -> None:
    def drift_bond0(data: dict[str, Any]) -> None:
        data["/nodes/pve02/network"][3]["bond_miimon"] = "200"  # bond0 carries corosync link 0

    ok = observe("built-pve8", drift_bond0)
    plan = make_plan(lab_stack, ok.cluster, ok.observed)
    assert [(a.kind, a.node, getattr(a.params, "affects_corosync", None)) for a in plan.actions] == [
        ("network_apply", "pve02", True)]

    def and_pve03_down(data: dict[str, Any]) -> None:
        drift_bond0(data)
        data["/cluster/status"][3]["online"] = 0

    risky = observe("built-pve8", and_pve03_down)
    with pytest.raises(PlanError, match="would not be quorate: 1 of 3 votes, need 2"):
        make_plan(lab_stack, risky.cluster, risky.observed)


def test_non_quorate_cluster_gives_error_and_no_actions(lab_stack: Cluster, observe: Observe) -> None:
    def split(data: dict[str, Any]) -> None:
        data["/cluster/status"][0]["quorate"] = 0
        data["/cluster/status"][2]["online"] = 0
        data["/cluster/status"][3]["online"] = 0

    d = observe("built-pve8", split)
    with pytest.raises(PlanError, match=r"cluster is not quorate: 1 of 3 votes online \(offline: pve02, pve03\)"):
        make_plan(lab_stack, d.cluster, d.observed)


def test_mon_removal_below_majority_is_refused(lab_text: str, observe: Observe) -> None:
    desired = stack_from(lab_text.replace("mons: [pve01, pve02, pve03]", "mons: [pve01, pve03]"))

    def pve03_mon_out(data: dict[str, Any]) -> None:
        data["/nodes/pve01/ceph/mon"][2].update(quorum=0, state="stopped")

    healthy = observe("built-pve8")
    plan = make_plan(desired, healthy.cluster, healthy.observed, prune=True)
    assert [(a.kind, a.node, a.destructive, a.serial) for a in plan.actions] == [
        ("ceph_mon_destroy", "pve02", True, True)]
    degraded = observe("built-pve8", pve03_mon_out)
    with pytest.raises(PlanError, match="leaves 1 of 2 monitors in quorum, need 2"):
        make_plan(desired, degraded.cluster, degraded.observed, prune=True)


def _storage(name: str, deps: list[str]) -> Action:
    return Action(id=ActionId.parse(f'storage["{name}"]#add'), phase=Phase.STORAGE, kind=Kind.STORAGE_ADD,
                  params=P.StorageAdd(storage=name, type="dir", options={"path": "/x"}),
                  depends_on=[ActionId.parse(d) for d in deps])


def test_cycle_is_detected() -> None:
    a = _storage("a", ['storage["b"]#add'])
    b = _storage("b", ['storage["a"]#add'])
    with pytest.raises(PlanError, match="dependency cycle"):
        order_actions([a, b])


def test_dependency_on_a_later_phase_is_an_error() -> None:
    a = Action(id=ActionId.parse('network["a"]#apply'), phase=Phase.NETWORK, kind=Kind.NETWORK_APPLY,
               params=P.NetworkApply(interfaces=[]), node="a", depends_on=[ActionId.parse('storage["b"]#add')])
    with pytest.raises(PlanError, match="runs later"):
        order_actions([a, _storage("b", [])])


def test_dependency_on_an_action_not_in_the_plan_is_an_error() -> None:
    """A typed id cannot be misspelt, and one that names no action of the plan is not dropped."""
    with pytest.raises(PlanError, match=r'dependencies on actions that are not in the plan: storage\["a"\]#add -> '
                                        r'storage\["ghost"\]#add'):
        order_actions([_storage("a", ['storage["ghost"]#add'])])


def test_a_kind_in_a_phase_it_does_not_belong_to_is_refused() -> None:
    from provision.actions import ActionError

    with pytest.raises(ActionError, match="storage_add cannot run in phase network"):
        Action(id=ActionId.parse('storage["a"]#add'), phase=Phase.NETWORK, kind=Kind.STORAGE_ADD,
               params=P.StorageAdd(storage="a", type="dir"))


def test_target_keeps_the_object_and_what_it_needs(lab_stack: Cluster, observe: Observe) -> None:
    d = observe("blank-pve8")
    plan = make_plan(lab_stack, d.cluster, d.observed, targets=[Address.parse('ceph.pool["vm-pool"]')])
    kinds = {a.kind for a in plan.actions}
    assert "ceph_pool_create" in kinds and "ceph_osd_create" in kinds and "cluster_join" in kinds
    assert not kinds & {"storage_add", "ha_group_add", "ha_resource_add", "ceph_fs_create", "ceph_mds_create"}
    assert {str(c.address) for c in plan.changes} >= {'ceph.pool["vm-pool"]'}
    assert not any(str(c.address).startswith("ha.") for c in plan.changes)


@pytest.mark.parametrize("target", ["bogus", 'pool["vm-pool"]', 'ceph.pools["vm-pool"]', 'storage["x"].pool["y"]'])
def test_target_that_names_no_kind_of_object_is_an_error(lab_stack: Cluster, observe: Observe, target: str) -> None:
    """A typo in --target must not quietly plan nothing."""
    d = observe("built-pve8")
    with pytest.raises(PlanError, match=r"--target .*: not an object address"):
        make_plan(lab_stack, d.cluster, d.observed, targets=[Address.parse(target)])


def test_qdevice_is_set_up_again_only_after_a_node_removal(lab_text: str, observe: Observe) -> None:
    """PVE needs the QDevice gone while the member list changes: set it up again
    after the node is removed, not in the qdevice phase before it."""
    def fourth_node_and_qdevice(data: dict[str, Any]) -> None:
        data["/cluster/config/nodes"].append({"name": "pve04", "node": "pve04", "nodeid": "4", "quorum_votes": "1",
                                              "ring0_addr": "10.10.10.14", "ring1_addr": "10.10.11.14"})
        data["/cluster/status"][0]["nodes"] = 4
        data["/cluster/status"].append({"id": "node/pve04", "ip": "192.168.10.14", "level": "", "local": 0,
                                        "name": "pve04", "nodeid": 4, "online": 1, "type": "node"})
        data["/nodes/pve04/network"] = []
        data["/nodes/pve04/disks/list?skipsmart=1"] = []
        data["/nodes/pve04/apt/versions"] = data["/nodes/pve01/apt/versions"]
        data["/cluster/config/qdevice"] = {"Algorithm": "LMS", "QNetd host": "192.168.10.9:5403",
                                           "State": "Connected", "Tie-breaker": "Node with lowest node ID"}

    desired = stack_from(lab_text.replace("\nceph:\n", "\nquorum:\n  qdevice: {host: 192.168.10.9, algorithm: lms}\n"
                                                     "\nceph:\n", 1))
    d = observe("built-pve8", fourth_node_and_qdevice, hints=("pve01", "pve02", "pve03", "pve04"))
    plan = make_plan(desired, d.cluster, d.observed, prune=True)
    steps = {a.kind: a for a in plan.actions}
    # pve04 is online: it is powered off (through a node that stays) before pvecm delnode;
    # what pvecm qdevice setup needs comes first: corosync-qdevice on the nodes that stay,
    # corosync-qnetd on the QNetd host and root SSH to it from the node running setup
    prepare = [Kind.QDEVICE_INSTALL] * 3 + [Kind.QNETD_INSTALL, Kind.SSH_TRUST]
    assert [a.kind for a in plan.actions] == ["qdevice_remove", *prepare, "node_shutdown", "node_remove",
                                              "qdevice_setup"]
    assert steps["node_remove"].depends_on == sorted([steps["qdevice_remove"].id, steps["node_shutdown"].id])
    assert steps["node_shutdown"].node == steps["node_remove"].node == "pve01"
    assert sorted(a.node for a in plan.actions if a.kind == Kind.QDEVICE_INSTALL) == ["pve01", "pve02", "pve03"]
    prepared = [a.id for a in plan.actions if a.kind in prepare]
    assert steps["qdevice_setup"].depends_on == sorted([steps["node_remove"].id, *prepared])
    assert steps["qdevice_setup"].node == steps["ssh_trust"].node == "pve01"
    assert getattr(steps["qdevice_setup"].params, "force", None) is True  # 3 nodes once pve04 is gone

    def powered_off(data: dict[str, Any]) -> None:
        fourth_node_and_qdevice(data)
        data["/cluster/status"][-1]["online"] = 0

    d = observe("built-pve8", powered_off, hints=("pve01", "pve02", "pve03", "pve04"))
    plan = make_plan(desired, d.cluster, d.observed, prune=True)
    # already off: no shutdown step
    assert [a.kind for a in plan.actions] == ["qdevice_remove", *prepare, "node_remove", "qdevice_setup"]


def test_osd_removals_that_leave_too_few_hosts_for_a_pool_are_refused(lab_text: str, observe: Observe) -> None:
    healthy = observe("built-pve8")
    sdg = "      - {node: %s, device: /dev/sdg, device_class: ssd}\n"
    one_per_host = lab_text
    for node in ("pve01", "pve02", "pve03"):
        assert sdg % node in one_per_host
        one_per_host = one_per_host.replace(sdg % node, "")
    plan = make_plan(stack_from(one_per_host), healthy.cluster, healthy.observed, prune=True)
    destroys = [a for a in plan.actions if a.kind == Kind.CEPH_OSD_DESTROY]
    assert sorted(a.node for a in destroys) == ["pve01", "pve02", "pve03"]
    assert all(a.serial and a.destructive for a in destroys)
    pve03_gone = "".join(line for line in lab_text.splitlines(keepends=True)
                         if not line.startswith("      - {node: pve03, device: /dev/sd"))
    with pytest.raises(PlanError, match=r"only 2 host\(s\) hold OSDs, but a pool keeps 3 copies"):
        make_plan(stack_from(pve03_gone), healthy.cluster, healthy.observed, prune=True)
