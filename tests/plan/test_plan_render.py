"""Renderers read the plan document; Markdown is byte-identical across runs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from plan_helpers import Observe

from provision.plan import make_plan, planfile
from provision.plan.planfile import PlanFileError
from provision.plan.render import render_json, render_markdown, render_text, summary_line
from provision.spec import Address, Cluster

FOOTER_54 = "Plan: 54 to add, 18 to change, 0 to destroy. 48 action(s) carry these object changes out."


def _doc(lab_stack: Cluster, observe: Observe, name: str, when: int, mutate: Any = None) -> dict[str, Any]:
    d = observe(name, mutate)
    now = datetime(2026, 1, 1, 0, 0, when, tzinfo=UTC)
    return make_plan(lab_stack, d.cluster, d.observed, stack="stacks/lab.yaml", now=now).to_document()


def test_markdown_is_byte_identical_across_runs(lab_stack: Cluster, observe: Observe) -> None:
    first = render_markdown(_doc(lab_stack, observe, "blank-pve8", 1))
    second = render_markdown(_doc(lab_stack, observe, "blank-pve8", 59))
    assert first.encode() == second.encode()
    assert first.count("<details>") == 6  # one per phase
    assert first.rstrip().endswith(f"**{FOOTER_54}**")


def test_summary_line_and_text(lab_stack: Cluster, observe: Observe) -> None:
    def drift(data: dict[str, Any]) -> None:
        data["/nodes/pve01/ceph/pool"][1]["size"] = 2
        data["/cluster/ha/resources"].append({"sid": "vm:105", "type": "vm"})

    doc = _doc(lab_stack, observe, "built-pve8", 1, drift)
    assert summary_line(doc) .startswith("Plan: 0 to add, 1 to change, 0 to destroy.")
    text = render_text(doc)
    assert '  ~ ceph.pool["vm-pool"]\n      size: 2 → 3\n' in text
    assert 'Unmanaged (in the cluster, not in the stack; --prune deletes them):\n  ? ha.resource["vm:105"]' in text
    assert text.rstrip().splitlines()[-1] .startswith("Plan: 0 to add, 1 to change, 0 to destroy.")
    assert "\x1b[" not in text and "\x1b[" in render_text(doc, color=True)


def test_no_changes_text(lab_stack: Cluster, observe: Observe) -> None:
    text = render_text(_doc(lab_stack, observe, "built-pve8", 1))
    assert "No changes. The cluster matches the stack." in text
    assert text.rstrip().endswith("Plan: 0 to add, 0 to change, 0 to destroy.")


def test_no_changes_with_unmanaged_objects_does_not_claim_a_match(lab_stack: Cluster, observe: Observe) -> None:
    def extra(data: dict[str, Any]) -> None:
        data["/cluster/ha/resources"].append({"sid": "vm:105", "type": "vm"})

    text = render_text(_doc(lab_stack, observe, "built-pve8", 1, extra))
    assert "No changes to what the stack manages; 1 unmanaged object(s) listed above." in text
    assert "The cluster matches the stack" not in text


def test_json_document_is_versioned_and_complete(lab_stack: Cluster, observe: Observe) -> None:
    doc = json.loads(render_json(_doc(lab_stack, observe, "blank-pve8", 1)))
    assert doc["format_version"] == "2"
    assert doc["spec_digest"].startswith("sha256:") and doc["observed_fingerprint"].startswith("sha256:")
    assert doc["cluster"]["nodes"] == ["pve01", "pve02", "pve03"] and doc["cluster"]["stack_name"] == "lab"
    action = doc["actions"][0]
    assert set(action) == {"id", "step", "phase", "kind", "node", "address", "params", "serial", "destructive",
                           "depends_on", "changes", "reason"}
    assert action["id"] == 'network["pve01"]#apply'


def test_planfile_round_trip_and_version_check(lab_stack: Cluster, observe: Observe, tmp_path: Path) -> None:
    doc = _doc(lab_stack, observe, "blank-pve8", 1)
    path = planfile.save(doc, tmp_path / "plan.json")
    loaded = planfile.load(path)
    assert loaded.pop("digest") == planfile.content_digest(doc) and loaded == doc
    doc["format_version"] = "1"
    (tmp_path / "v1.json").write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match=r'format version "1" is not supported .*make the plan again'):
        planfile.load(tmp_path / "v1.json")
    doc["format_version"] = "0"
    (tmp_path / "old.json").write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match='format version "0" is not supported'):
        planfile.load(tmp_path / "old.json")
    doc["format_version"] = 1
    (tmp_path / "number.json").write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match=r'format version 1 is not supported \(this tool reads "2"\)'):
        planfile.load(tmp_path / "number.json")
    with pytest.raises(PlanFileError, match="no such plan file"):
        planfile.load(tmp_path / "missing.json")


@pytest.mark.parametrize(("field", "value", "wrong"), [
    ("cluster", 1, "cluster"), ("actions", {"id": "x"}, "actions"), ("actions", [1], "actions[0]"),
    ("options", [], "options"), ("spec_digest", None, "spec_digest"),
])
def test_planfile_with_wrong_field_types_is_one_clear_error(lab_stack: Cluster, observe: Observe, tmp_path: Path,
                                                           field: str, value: Any, wrong: str) -> None:
    doc = _doc(lab_stack, observe, "blank-pve8", 1)
    doc[field] = value
    (tmp_path / "edited.json").write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match=rf"not a plan file \(wrong type: {re.escape(wrong)}\)"):
        planfile.load(tmp_path / "edited.json")


def test_no_changes_to_targets_does_not_claim_the_whole_cluster_matches(lab_stack: Cluster,
                                                                      observe: Observe) -> None:
    d = observe("built-pve8", lambda data: data["/nodes/pve01/ceph/pool"][1].update(size=2))
    doc = make_plan(lab_stack, d.cluster, d.observed, targets=[Address.parse('storage["nfs-iso"]')]).to_document()
    text = render_text(doc)
    assert 'No changes to the targeted objects (storage["nfs-iso"]); others were left out (--target).' in text
    assert "The cluster matches the stack" not in text


def test_planfile_that_cannot_be_written_is_a_plan_file_error(lab_stack: Cluster, observe: Observe,
                                                              tmp_path: Path) -> None:
    doc = _doc(lab_stack, observe, "blank-pve8", 1)
    with pytest.raises(PlanFileError, match="cannot write the plan file"):
        planfile.save(doc, tmp_path / "missing-dir" / "plan.json")
    (tmp_path / "plan.json").mkdir()
    with pytest.raises(PlanFileError, match="cannot write the plan file"):
        planfile.save(doc, tmp_path / "plan.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]  # no temporary file left behind


def test_planfile_whose_phases_name_unknown_actions_is_one_clear_error(lab_stack: Cluster, observe: Observe,
                                                                       tmp_path: Path) -> None:
    doc = _doc(lab_stack, observe, "blank-pve8", 1)
    doc["phases"][0]["actions"].append("no-such-action")
    (tmp_path / "edited.json").write_text(json.dumps(doc))
    with pytest.raises(PlanFileError, match=r"not a plan file \(phases name unknown actions: no-such-action\)"):
        planfile.load(tmp_path / "edited.json")


def test_created_objects_show_their_attributes_for_review(lab_stack: Cluster, observe: Observe) -> None:
    """A reviewer sees what a new NFS storage points at, a new pool's size and a new HA
    group's priorities, in the text and in the Markdown comment; secrets stay hidden."""
    doc = _doc(lab_stack, observe, "blank-pve8", 1)
    text = render_text(doc)
    nfs = text.split('+ storage["nfs-iso"]', 1)[1].split("\n  +", 1)[0]
    assert 'server: "192.168.10.5"' in nfs and 'export: "/export/iso"' in nfs
    pool = text.split('+ ceph.pool["vm-pool"]', 1)[1].split("\n  +", 1)[0]
    assert "size: 3" in pool and "min_size: 2" in pool
    group = text.split('+ ha.group["web"]', 1)[1].split("\n  +", 1)[0]
    assert 'nodes: {"pve01": 2, "pve02": 2, "pve03": 1}' in group
    pbs = text.split('+ storage["pbs-backup"]', 1)[1].split("\n  +", 1)[0]
    assert 'password: "(sensitive)"' in pbs
    markdown = render_markdown(doc)
    assert '- `+` `storage["nfs-iso"]`' in markdown and '  - `server` = `"192.168.10.5"`' in markdown
