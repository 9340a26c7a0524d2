"""diff(desired, observed): table-driven cases over the built lab fixture."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from plan_helpers import Observe, stack_from

from provision.plan import PlanError, make_plan
from provision.plan.diff import SENSITIVE, diff
from provision.spec import Cluster

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, index: int, key: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data[path][index][key] = value
    return mutate


def _append(path: str, item: dict[str, Any]) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data[path].append(item)
    return mutate


def _drop(path: str, index: int) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        del data[path][index]
    return mutate


def test_spec_and_built_cluster_compare_equal(lab_stack: Cluster, observe: Observe) -> None:
    """Every default on both sides is normalised: nothing churns."""
    d = observe("built-pve8")
    assert diff(lab_stack, d.cluster, facts=d.observed) == []


# (mutation of reality, address, action, field diffs (path, old, new), destructive)
CASES: list[tuple[str, Mutation, str, str, list[tuple[str, Any, Any]], bool]] = [
    ("pool size drifted", _set("/nodes/pve01/ceph/pool", 1, "size", 2),
     'ceph.pool["vm-pool"]', "update", [("size", 2, 3)], False),
    ("pool missing", _drop("/nodes/pve01/ceph/pool", 1), 'ceph.pool["vm-pool"]', "create", [], False),
    ("storage option changed", _set("/storage", 4, "options", "vers=4.1"),
     'storage["nfs-iso"]', "update", [("options", "vers=4.1", "vers=4.2")], False),
    ("storage server is fixed", _set("/storage", 4, "server", "192.168.10.99"),
     'storage["nfs-iso"]', "replace", [("server", "192.168.10.99", "192.168.10.5")], True),
    ("HA resource setting", _set("/cluster/ha/resources", 2, "max_relocate", 1),
     'ha.resource["vm:102"]', "update", [("max_relocate", 1, 2)], False),
    ("HA group priorities", _set("/cluster/ha/groups", 0, "nodes", "pve01:1,pve02:2,pve03:1"),
     'ha.group["web"]', "update",
     [("nodes", {"pve01": 1, "pve02": 2, "pve03": 1}, {"pve01": 2, "pve02": 2, "pve03": 1})], False),
    ("link priority", lambda d: d["/cluster/config/totem"]["interface"]["1"].update(knet_link_priority="5"),
     "corosync.link[1]", "update", [("priority", 5, 10)], False),
    ("mgr missing", _drop("/nodes/pve01/ceph/mgr", 1), 'ceph.mgr["pve02"]', "create", [], False),
    ("bond mtu", lambda d: d["/nodes/pve02/network"][2].update(mtu="1500"),  # bond1 (API order)
     'network["pve02"].bond["bond1"]', "update", [("mtu", 1500, 9000)], False),
]


@pytest.mark.parametrize(("name", "mutate", "address", "action", "fields", "destructive"), CASES,
                         ids=[c[0] for c in CASES])
def test_one_change(lab_stack: Cluster, observe: Observe, name: str, mutate: Mutation, address: str,
                    action: str, fields: list[tuple[str, Any, Any]], destructive: bool) -> None:
    d = observe("built-pve8", mutate)
    changes = diff(lab_stack, d.cluster, facts=d.observed)
    assert [(str(c.address), c.action) for c in changes] == [(address, action)], name
    assert [(f.path, f.old, f.new) for f in changes[0].field_diffs] == fields
    assert changes[0].destructive is destructive


def test_osd_db_device_forces_destructive_replace(lab_text: str, observe: Observe) -> None:
    desired = stack_from(lab_text.replace("{node: pve02, device: /dev/sdc, device_class: ssd}",
                                          "{node: pve02, device: /dev/sdc, device_class: ssd, "
                                          "db_device: /dev/nvme0n1}"))
    d = observe("built-pve8")
    (change,) = diff(desired, d.cluster, facts=d.observed)
    assert (str(change.address), change.action, change.destructive) == ('ceph.osd["pve02:/dev/sdc"]', "replace", True)
    assert [(f.path, f.old, f.new) for f in change.field_diffs] == [("db_device", None, "/dev/nvme0n1")]


def test_unmanaged_only_deleted_with_prune(lab_stack: Cluster, observe: Observe) -> None:
    extra = _append("/cluster/ha/resources", {"sid": "vm:105", "type": "vm", "state": "started"})
    d = observe("built-pve8", extra)
    (kept,) = diff(lab_stack, d.cluster, facts=d.observed)
    assert (str(kept.address), kept.action) == ('ha.resource["vm:105"]', "unmanaged")
    (pruned,) = diff(lab_stack, d.cluster, facts=d.observed, prune=True)
    assert (str(pruned.address), pruned.action) == ('ha.resource["vm:105"]', "delete")


def test_prune_scope_and_ignore(lab_text: str, observe: Observe) -> None:
    """`--prune KIND` deletes only that kind; `ignore:` hides an object even from a plain --prune."""
    def extra(data: dict[str, Any]) -> None:
        data["/cluster/ha/resources"].append({"sid": "vm:105", "type": "vm", "state": "started"})
        data["/storage"].append({"storage": "scratch", "type": "dir", "path": "/srv/scratch", "content": "iso"})
    d = observe("built-pve8", extra)
    desired = stack_from(lab_text)
    scoped = {(str(c.address), c.action) for c in diff(desired, d.cluster, facts=d.observed, prune=["ha.resource"])}
    assert scoped == {('ha.resource["vm:105"]', "delete"), ('storage["scratch"]', "unmanaged")}
    ignoring = stack_from(lab_text.replace("storage:\n", 'ignore:\n  - storage["scr*"]\nstorage:\n', 1))
    everything = {(str(c.address), c.action) for c in diff(ignoring, d.cluster, facts=d.observed, prune=True)}
    assert everything == {('ha.resource["vm:105"]', "delete")}


def test_unconfigured_nics_are_hardware_not_unmanaged(lab_text: str, observe: Observe) -> None:
    desired = stack_from(lab_text.replace("      - {name: enp65s0f1, type: nic}\n", "", 1).replace(
        "slaves: [enp65s0f0, enp65s0f1]", "slaves: [enp65s0f0]", 1))
    d = observe("built-pve8")
    changes = diff(desired, d.cluster, facts=d.observed)
    assert [(str(c.address), c.action) for c in changes] == [('network["pve01"].bond["bond1"]', "update")]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    nodeid: 2\n", "    nodeid: 7\n", "nodeid cannot change"),
        ("public_network: 10.20.20.0/24", "public_network: 10.20.0.0/16", "public_network cannot change"),
        ("name: lab\n", "name: other\n", "cannot be renamed"),
    ],
)
def test_impossible_changes_are_errors(lab_text: str, observe: Observe, old: str, new: str, message: str) -> None:
    text = lab_text.replace(old, new, 1)
    if "20.0/16" in new:
        text = text.replace("10.20.20.1", "10.20.0.1")
    d = observe("built-pve8")
    with pytest.raises(PlanError, match=message):
        diff(stack_from(text), d.cluster, facts=d.observed)


def test_autoscaled_pg_num_does_not_churn(lab_text: str, observe: Observe) -> None:
    text = lab_text.replace('pg_autoscale_mode: "on", application: rbd}',
                            'pg_autoscale_mode: "on", application: rbd, pg_num: 64}')
    d = observe("built-pve8")
    assert diff(stack_from(text), d.cluster, facts=d.observed) == []
    warn = text.replace('pg_autoscale_mode: "on", application: rbd, pg_num: 64',
                        'pg_autoscale_mode: "on", application: rbd, pg_num: 64'.replace('"on"', "warn"))
    changes = diff(stack_from(warn), d.cluster, facts=d.observed)
    assert [(f.path, f.old, f.new) for c in changes for f in c.field_diffs] == [
        ("pg_autoscale_mode", "on", "warn"), ("pg_num", 128, 64)]


def test_secrets_are_never_compared_or_printed(lab_text: str, observe: Observe,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PBS_PASSWORD", "hunter2-very-secret")
    desired = stack_from(lab_text.replace("datastore: main", "datastore: main\n    namespace: prod"))
    d = observe("built-pve8")
    (change,) = diff(desired, d.cluster, facts=d.observed)
    assert change.after is not None and change.after["password"] == SENSITIVE
    assert change.before is not None and change.before["password"] == SENSITIVE
    assert [f.path for f in change.field_diffs] == ["namespace"]
    # a create carries the reference (apply resolves it), never the value
    missing = observe("built-pve8", _drop("/storage", 5))
    document = json.dumps(make_plan(desired, missing.cluster, missing.observed).to_document())
    assert "hunter2" not in document
    assert '"password": {"secret": "env:PBS_PASSWORD"}' in document
    assert '"password": "(sensitive)"' in document


def test_pve9_migrated_groups_are_a_note_not_churn(lab_stack: Cluster, observe: Observe) -> None:
    d = observe("migrated-pve9")
    changes = diff(lab_stack, d.cluster, facts=d.observed)
    assert {c.action for c in changes} == {"noop-note"}
    notes = {str(c.address): c.reason for c in changes}
    assert "ha-group-web" in notes['ha.group["web"]'] and "PVE 9" in notes["cluster"]


def test_pve9_migrated_group_edit_becomes_rule_update(lab_text: str, observe: Observe) -> None:
    desired = stack_from(lab_text.replace("{name: db, nodes: {pve03: 2, pve02: 1}, restricted: true}",
                                          "{name: db, nodes: {pve03: 2, pve02: 1}, restricted: false}"))
    d = observe("migrated-pve9")
    real = [c for c in diff(desired, d.cluster, facts=d.observed) if c.action != "noop-note"]
    assert [(str(c.address), c.action, [(f.path, f.old, f.new) for f in c.field_diffs]) for c in real] == [
        ('ha.rule["ha-group-db"]', "update", [("strict", True, False)])]


def test_totem_token_is_compared_not_mistaken_for_a_secret(lab_text: str, observe: Observe) -> None:
    """`corosync.token` is a timeout, not a secret: a stack that sets it must plan it."""
    desired = stack_from(lab_text.replace("corosync:\n", "corosync:\n  token: 3000\n", 1))
    d = observe("built-pve8")
    (change,) = diff(desired, d.cluster, facts=d.observed)
    assert (str(change.address), change.action) == ("corosync.totem", "update")
    assert [(f.path, f.old, f.new) for f in change.field_diffs] == [("token", None, 3000)]


def test_autoscaled_pg_num_is_not_set_alongside_another_pool_change(lab_text: str, observe: Observe) -> None:
    """With the autoscaler on, pg_num is its business even when another field changes."""
    text = lab_text.replace('{name: vm-pool, size: 3, min_size: 2, pg_autoscale_mode: "on", application: rbd}',
                            '{name: vm-pool, size: 3, min_size: 2, pg_autoscale_mode: "on", application: rbd, '
                            'pg_num: 64}')
    d = observe("built-pve8", _set("/nodes/pve01/ceph/pool", 1, "size", 2))
    (change,) = diff(stack_from(text), d.cluster, facts=d.observed)
    assert [(f.path, f.old, f.new) for f in change.field_diffs] == [("size", 2, 3)]
    plan = make_plan(stack_from(text), d.cluster, d.observed)
    (action,) = plan.actions
    assert "pg_num" not in action.params


def test_cluster_network_equal_to_public_network_means_unset(lab_text: str, observe: Observe) -> None:
    """pveceph init writes cluster_network = public network when none is given;
    a stack saying so explicitly describes the same cluster."""
    same = lab_text.replace("cluster_network: 10.30.30.0/24", "cluster_network: 10.20.20.0/24")

    def one_network(data: dict[str, Any]) -> None:
        key = "/nodes/pve01/ceph/cfg/raw"
        data[key] = data[key].replace("cluster_network = 10.30.30.0/24", "cluster_network = 10.20.20.0/24")

    d = observe("built-pve8", one_network)
    assert diff(stack_from(same), d.cluster, facts=d.observed) == []
    assert diff(stack_from(same.replace("  cluster_network: 10.20.20.0/24\n", "")), d.cluster,
                facts=d.observed) == []
