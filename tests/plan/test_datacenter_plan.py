"""datacenter.cfg in the plan: one `datacenter` change compares only the options the stack
sets (against PVE's default where the file is silent), and one `datacenter_options_set`
sends the options that hold a difference with every sub-key the stack manages (issue 15)."""

from __future__ import annotations

from typing import Any

from plan_helpers import Observe, stack_from

from provision.actions import Kind
from provision.plan import build_actions
from provision.plan.diff import diff
from provision.spec import Cluster
from provision.spec.hapolicy import AutoRebalance


def _options(value: dict[str, Any]) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        data["/cluster/options"] = {**value, "allowed-tags": []}
    return mutate


def _stack(lab_text: str, ha: str = "", datacenter: str = "") -> Cluster:
    text = lab_text.replace("\nha:\n", "\nha:\n" + ha, 1)
    return stack_from(text + ("\ndatacenter:\n" + datacenter if datacenter else ""))


def test_unset_options_are_not_managed(lab_stack: Cluster, observe: Observe) -> None:
    d = observe("built-pve8", _options({"ha": {"shutdown_policy": "migrate"}, "email_from": "a@b.example",
                                         "migration": {"type": "insecure", "network": "10.9.9.0/24"},
                                         "bwlimit": "restore=10"}))
    assert diff(lab_stack, d.cluster, facts=d.observed) == []


def test_set_options_compare_with_pves_defaults(lab_text: str, observe: Observe) -> None:
    stack = _stack(lab_text, ha="  shutdown_policy: conditional\n  rebalance_on_start: false\n",
                   datacenter="  migration: {type: secure}\n")
    d = observe("built-pve8")  # datacenter.cfg without these options: PVE's defaults
    assert diff(stack, d.cluster, facts=d.observed) == []
    stack = _stack(lab_text, ha="  shutdown_policy: migrate\n",
                   datacenter="  migration: {type: insecure}\n  bwlimit: {migration: 100}\n")
    d = observe("built-pve8", _options({"migration": {"type": "secure", "network": "10.9.9.0/24"},
                                        "bwlimit": "restore=10,migration=50"}))
    (change,) = diff(stack, d.cluster, facts=d.observed)
    assert str(change.address) == "datacenter" and change.action == "update"
    assert [(f.path, f.old, f.new) for f in change.field_diffs] == [
        ("datacenter.bwlimit.migration", 50, 100),
        ("datacenter.migration.type", "secure", "insecure"),
        ("ha.shutdown_policy", "conditional", "migrate"),
    ]
    (action,) = [a for a in build_actions([change], stack, d.cluster, d.observed)]
    assert action.kind == Kind.DATACENTER_OPTIONS_SET
    params = action.params.model_dump()
    assert params["options"] == {}
    # the touched options with the sub-keys the stack manages; apply keeps network and restore
    assert params["merge"] == {"bwlimit": {"migration": "100"}, "ha": {"shutdown_policy": "migrate"},
                               "migration": {"type": "insecure"}}


def test_auto_rebalance_compares_its_settings_only_when_enabled(lab_stack: Cluster, observe: Observe) -> None:
    # a PVE 9 option; the diff itself does not look at the version
    def with_auto(auto: AutoRebalance) -> Cluster:
        return lab_stack.model_copy(update={"ha": lab_stack.ha.model_copy(update={"auto_rebalance": auto})})

    d = observe("built-pve8", _options({"crs": {"ha": "basic", "ha-auto-rebalance": 0,
                                                "ha-auto-rebalance-threshold": "50"}}))
    off = with_auto(AutoRebalance(enabled=False))
    assert [c for c in diff(off, d.cluster, facts=d.observed) if str(c.address) == "datacenter"] == []
    on = with_auto(AutoRebalance(threshold=40))
    (change,) = [c for c in diff(on, d.cluster, facts=d.observed) if str(c.address) == "datacenter"]
    assert {(f.path, f.old, f.new) for f in change.field_diffs} == {
        ("ha.auto_rebalance.enabled", False, True), ("ha.auto_rebalance.threshold", 50, 40)}


def test_unreadable_options_are_not_compared(lab_text: str, observe: Observe) -> None:
    stack = _stack(lab_text, ha="  shutdown_policy: migrate\n")
    unread = {"/cluster/options": {"__error__": [404, "no such path"]}}
    d = observe("built-pve8", lambda data: data.update(unread))
    (note,) = [c for c in diff(stack, d.cluster, facts=d.observed) if str(c.address) == "datacenter"]
    assert note.action == "noop-note" and note.not_compared
