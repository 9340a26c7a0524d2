"""The rule registry, the example stacks staying clean, rules that only a
discovered (not cross-checked) cluster can trigger, and the deliberate silences."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import stack_variants as sv
from ruamel.yaml.comments import CommentedMap

from provision.rules import all_rules, get_rule, run
from provision.rules.catalogue import markdown
from provision.rules.registry import Hit, rule
from provision.rules.topology import kernel_mtu, primary_link
from provision.spec import load_stack

ROOT = Path(__file__).resolve().parents[2]


# -- the examples are clean ---------------------------------------------------------------------
def test_lab_stack_has_no_findings_at_all() -> None:
    stack = load_stack(sv.EXAMPLES["lab"])
    assert run(stack.cluster) == []


def test_pve9_example_has_no_errors_or_warnings() -> None:
    stack = load_stack(sv.EXAMPLES["pve9"])
    bad = [f for f in run(stack.cluster) if f.severity in ("error", "warning")]
    assert bad == []


# -- the registry ---------------------------------------------------------------------
def test_catalogue_is_large_and_ordered() -> None:
    rules = all_rules()
    assert len(rules) >= 24
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids))
    prefixes = [re.match(r"PVE-([A-Z]+)", i).group(1) for i in ids]  # type: ignore[union-attr]
    order = ["Q", "N", "C", "CEPH", "S", "HA", "B"]
    assert prefixes == sorted(prefixes, key=order.index)


@pytest.mark.parametrize("r", all_rules(), ids=lambda r: r.id)
def test_every_rule_documents_why_and_fix(r: Any) -> None:
    assert r.severity in ("error", "warning", "info")
    assert r.title and r.title[0].isupper() and not r.title.endswith(".")
    assert len(r.why) > 80, "the docstring must say why the rule matters"
    assert r.fix, "the docstring needs a 'Fix:' paragraph"


def test_required_checks_have_their_severities() -> None:
    expected = {
        "PVE-Q001": "warning", "PVE-Q002": "warning", "PVE-Q003": "warning", "PVE-HA001": "error",
        "PVE-C001": "warning", "PVE-C002": "warning", "PVE-C003": "warning", "PVE-N001": "warning",
        "PVE-C005": "warning", "PVE-CEPH001": "warning", "PVE-CEPH002": "info", "PVE-CEPH003": "warning",
        "PVE-CEPH004": "warning", "PVE-CEPH005": "error", "PVE-CEPH007": "error", "PVE-CEPH008": "error",
        "PVE-CEPH010": "info", "PVE-HA002": "error", "PVE-HA003": "warning", "PVE-S001": "warning",
        "PVE-HA004": "info", "PVE-HA005": "error", "PVE-HA010": "info",
    }
    actual = {i: get_rule(i).severity for i in expected}  # type: ignore[union-attr]
    assert actual == expected


def test_registering_twice_or_with_a_bad_id_fails() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        rule("PVE-Q001", "warning", "dupe")(lambda c: iter(()))
    with pytest.raises(ValueError, match="bad rule id"):
        rule("Q-1", "warning", "bad")(lambda c: iter(()))
    with pytest.raises(ValueError, match="bad severity"):
        rule("PVE-Q999", "fatal", "bad")  # type: ignore[arg-type]


def test_disable_skips_rules_and_rejects_unknown_ids() -> None:
    stack = sv.variant("lab", lambda t: t["ceph"].update(mgrs=["pve02"], mons=["pve01"]))
    fired = {f.rule_id for f in run(stack.cluster)}
    assert {"PVE-CEPH001", "PVE-CEPH003", "PVE-CEPH013"} <= fired
    left = {f.rule_id for f in run(stack.cluster, disable=["PVE-CEPH001", "PVE-CEPH013"])}
    assert left == fired - {"PVE-CEPH001", "PVE-CEPH013"}
    with pytest.raises(ValueError, match="PVE-NOPE"):
        run(stack.cluster, disable=["PVE-NOPE"])


def test_findings_carry_the_rule_severity() -> None:
    stack = sv.variant("lab", lambda t: sv.pool(t).update(min_size=1))
    (f,) = [f for f in run(stack.cluster) if f.rule_id == "PVE-CEPH005"]
    assert (f.severity, f.loc) == ("error", ("ceph", "pools", 0, "min_size"))
    assert f.hint == "set min_size: 2"
    assert isinstance(Hit(f.loc, f.message), Hit)


def test_docs_rules_md_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == markdown(), "regenerate: .venv/bin/provision rules --markdown > docs/rules.md"


def test_markdown_has_a_section_per_rule() -> None:
    text = markdown()
    for r in all_rules():
        assert f"### {r.id}\n" in text
        assert f"[{r.id}](#{r.id.lower()})" in text


# -- rules only a discovered cluster can trigger ---------------------------------------------
def test_restricted_group_of_unknown_nodes_is_impossible() -> None:
    cluster = sv.model_variant("lab", lambda t: sv.group(t, "db").update(nodes=CommentedMap({"pve07": 1})))
    hits = [f for f in run(cluster) if f.rule_id == "PVE-HA002"]
    assert [(f.loc, f.severity) for f in hits] == [(("ha", "groups", 1, "nodes"), "error")]
    assert "pve07" in hits[0].message


def test_strict_rule_of_unknown_nodes_is_impossible() -> None:
    cluster = sv.model_variant("pve9", lambda t: sv.rule(t, "licensed").update(nodes=CommentedMap({"old1": 1})))
    assert [f.loc for f in run(cluster) if f.rule_id == "PVE-HA002"] == [("ha", "rules", 2, "nodes")]


def test_unrestricted_group_of_unknown_nodes_is_not_impossible() -> None:
    # Unrestricted groups fall back to every node, so nothing is impossible.
    def change(t: Any) -> None:
        sv.group(t, "db").update(nodes=CommentedMap({"pve07": 1}), restricted=False)

    assert [f for f in run(sv.model_variant("lab", change)) if f.rule_id == "PVE-HA002"] == []


# -- deliberate silences ----------------------------------------------------------------------
def _ids(name: str, change: Any) -> set[str]:
    return {f.rule_id for f in run(sv.variant(name, change).cluster)}


def test_shared_networks_are_fine_as_low_priority_fallback_links() -> None:
    # pvecm.adoc endorses storage/VM networks as lower-priority links.
    def ceph_fallback(t: Any) -> None:
        t["corosync"]["links"][1]["network"] = "10.20.20.0/24"

    def bridge_fallback(t: Any) -> None:
        t["corosync"]["links"][1]["network"] = "192.168.10.0/24"

    assert not {"PVE-C002", "PVE-C003"} & _ids("lab", ceph_fallback)
    assert not {"PVE-C002", "PVE-C003"} & _ids("lab", bridge_fallback)


def test_shared_link_is_judged_when_it_becomes_the_preferred_one() -> None:
    def promote(t: Any) -> None:
        t["corosync"]["links"][1].update(network="192.168.10.0/24", priority=30)

    assert "PVE-C003" in _ids("lab", promote)


def test_single_link_on_a_bond_is_accepted() -> None:
    def single(t: Any) -> None:
        t["corosync"]["links"] = [t["corosync"]["links"][0]]

    assert "PVE-C001" not in _ids("lab", single)


def test_lacp_with_fast_rate_is_accepted_for_corosync() -> None:
    def lacp(t: Any) -> None:
        for n in t["nodes"]:
            bond = next(i for i in n["interfaces"] if i["name"] == "bond0")
            bond.update(mode="802.3ad", lacp_rate="fast")
            del bond["primary"]

    assert not {"PVE-C005", "PVE-C006"} & _ids("lab", lacp)


def test_bad_bond_modes_on_non_corosync_bonds_are_not_reported() -> None:
    def ceph_bond(t: Any) -> None:
        for n in t["nodes"]:
            bond = next(i for i in n["interfaces"] if i["name"] == "bond1")
            bond.update(mode="balance-alb")
            del bond["xmit_hash_policy"], bond["lacp_rate"]

    assert "PVE-C005" not in _ids("lab", ceph_bond)


def test_shared_db_device_with_sizes_is_accepted() -> None:
    def sized(t: Any) -> None:
        for dev in ("/dev/sdb", "/dev/sdc"):
            sv.osd(t, "pve02", dev).update(db_device="/dev/nvme0n1", db_size_gib=60)

    assert "PVE-CEPH009" not in _ids("lab", sized)


def test_qdevice_on_an_even_cluster_is_the_supported_setup() -> None:
    def qdev(t: Any) -> None:
        sv.drop_node(t, "pve05")
        t["quorum"] = CommentedMap({"qdevice": CommentedMap({"host": "192.168.20.5"})})

    assert not {"PVE-Q002", "PVE-Q003", "PVE-Q005"} & _ids("pve9", qdev)


def test_two_nodes_with_a_qdevice_may_run_ha() -> None:
    def two_plus_one(t: Any) -> None:
        sv.drop_node(t, "pve03")
        t["quorum"] = CommentedMap({"qdevice": CommentedMap({"host": "192.168.10.5"})})

    ids = _ids("lab", two_plus_one)
    assert not {"PVE-Q001", "PVE-HA001"} & ids


def test_nofailback_keeps_a_guest_where_it_is() -> None:
    def moved(t: Any) -> None:
        sv.guest(t, "vm:100")["node"] = "pve03"
        sv.group(t, "web")["nofailback"] = True

    assert "PVE-HA012" not in _ids("lab", moved)


def test_ignored_resources_do_not_need_placement() -> None:
    assert "PVE-HA004" not in _ids("lab", lambda t: sv.add_resource(t, "vm:103", "pve02", state="ignored"))


# -- topology helpers ---------------------------------------------------------------------
def test_kernel_mtu_inherits_from_parents() -> None:
    stack = load_stack(sv.EXAMPLES["lab"])
    pve01 = stack.cluster.nodes[0]
    assert kernel_mtu(pve01, "bond1.20") == 9000
    assert kernel_mtu(pve01, "vmbr0") == 1500
    stack2 = sv.variant("lab", lambda t: sv.iface(t, "pve01", "bond1.20").pop("mtu"))
    assert kernel_mtu(stack2.cluster.nodes[0], "bond1.20") == 9000  # VLAN inherits bond1's 9000


def test_primary_link_is_highest_priority_then_lowest_number() -> None:
    stack = load_stack(sv.EXAMPLES["lab"])
    assert primary_link(stack.cluster.corosync).number == 0
    flipped = sv.variant("lab", lambda t: t["corosync"]["links"][1].update(priority=30))
    assert primary_link(flipped.cluster.corosync).number == 1
    unset = sv.variant("lab", lambda t: [lk.pop("priority") for lk in t["corosync"]["links"]])
    assert primary_link(unset.cluster.corosync).number == 0


def test_free_placement_everywhere_is_one_finding_not_one_per_resource() -> None:
    def no_groups(t: Any) -> None:
        t["ha"].pop("groups")
        for r in t["ha"]["resources"]:
            r.pop("group")

    hits = [f for f in run(sv.variant("lab", no_groups).cluster) if f.rule_id == "PVE-HA004"]
    assert [(f.loc, f.severity) for f in hits] == [(("ha", "resources"), "info")]
