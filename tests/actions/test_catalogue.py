"""The catalogue is the one definition of a kind: templates, docs and cases must agree
with it, and templates must read exactly the parameters their kind defines."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from taskrun import render_case

from provision.actions import CATALOGUE, Action, ActionError, Kind
from provision.actions.doc import kinds_table
from provision.apply import render

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).parent / "cases"


def _cases(kind: Kind) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((CASES / kind.value).glob("*.json"))]


def test_kinds_templates_cases_and_docs_are_one_set() -> None:
    kinds = {k.value for k in Kind}
    templates = {p.name.removesuffix(".yml.j2") for p in (render.PLAYBOOKS_DIR / "actions").glob("*.yml.j2")}
    doc = (ROOT / "docs" / "plan-format.md").read_text(encoding="utf-8")
    table = doc.split("<!-- kinds table", 1)[1].split("<!-- end of kinds table", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.M))
    assert templates == kinds
    assert documented == kinds
    assert {p.name for p in CASES.iterdir() if p.is_dir()} == kinds


def test_docs_kinds_table_is_generated_from_the_catalogue() -> None:
    doc = (ROOT / "docs" / "plan-format.md").read_text(encoding="utf-8")
    assert kinds_table() in doc, "run: python -m provision.actions.doc docs/plan-format.md"


@pytest.mark.parametrize("kind", list(Kind), ids=[k.value for k in Kind])
def test_template_reads_every_parameter_of_its_kind(kind: Kind, tmp_path: Path) -> None:
    """Every field is read by the template (through the strict view, or as `t.<field>`
    in the rendered tasks), except the fields the kind declares replay-only."""
    spec = CATALOGUE[kind]
    seen: set[str] = set()
    for case in _cases(kind):
        action, _, _ = render_case(case, tmp_path)
        view = render.ParamsView(action.params, kind.value)
        env = render._environment(render.PLAYBOOKS_DIR)
        text = env.get_template(spec.template).render(
            **render.template_context(kind.value, 1, view, case.get("pve_version", 8)))
        seen |= view.seen | set(re.findall(r"\bt\.([a-z_]+)", text))
    fields = set(spec.params.model_fields) - spec.params.as_data
    assert fields - spec.params.replay_only <= seen, f"never read: {sorted(fields - spec.params.replay_only - seen)}"
    assert not (spec.params.replay_only & seen), "a replay-only field is read by the template"


def test_a_template_typo_is_a_render_error_naming_kind_and_parameter(tmp_path: Path) -> None:
    playbooks = tmp_path / "playbooks"
    shutil.copytree(render.PLAYBOOKS_DIR, playbooks)
    template = playbooks / "actions" / "ceph_pool_create.yml.j2"
    template.write_text(template.read_text().replace('("--min_size", "min_size")', '("--min_size", "minsize")'))
    case = _cases(Kind.CEPH_POOL_CREATE)[0]
    action = Action.from_json(case["action"])
    with pytest.raises(render.RenderError, match=r"ceph_pool_create .*'minsize'.*CephPoolCreate"):
        render.render_action(action, 1, "pve01", render._environment(playbooks), 8, {})


def test_a_template_cannot_write_parameter_text_into_the_playbook(tmp_path: Path) -> None:
    playbooks = tmp_path / "playbooks"
    shutil.copytree(render.PLAYBOOKS_DIR, playbooks)
    template = playbooks / "actions" / "ha_group_add.yml.j2"
    template.write_text(template.read_text().replace('"{{ t.group }}"', "[[ p.group | q ]]"))
    action = Action.from_json(_cases(Kind.HA_GROUP_ADD)[0]["action"])
    with pytest.raises(render.RenderError, match="reference it as"):
        render.render_action(action, 1, "pve01", render._environment(playbooks), 8, {})


@pytest.mark.parametrize(("edit", "message"), [
    (lambda a: a["params"].update(minsize=2), r"ceph_pool_create parameters: minsize: unknown parameter"),
    (lambda a: a["params"].update(size="3"), r"ceph_pool_create parameters: size: Input should be a valid integer"),
    (lambda a: a["params"].pop("size"), r"ceph_pool_create parameters: size: missing parameter"),
    (lambda a: a.update(destructive=True), r"says destructive=true, but a ceph_pool_create .* is destructive=false"),
    (lambda a: a.update(phase="destroy_ceph"), r"ceph_pool_create cannot run in phase destroy_ceph"),
    (lambda a: a.update(kind="ceph_pool_explode"), r"'ceph_pool_explode' is not a valid Kind"),
    (lambda a: a.update(id="ceph.pool[\"vm-pool\"]#explode"), r"unknown verb 'explode'"),
])
def test_action_json_is_validated_against_its_kind(edit: Any, message: str) -> None:
    data = json.loads(json.dumps(_cases(Kind.CEPH_POOL_CREATE)[0]["action"]))
    edit(data)
    with pytest.raises(ActionError, match=message):
        Action.from_json(data)


def _plan_document(actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format_version": "2", "spec_digest": "sha256:x", "observed_fingerprint": "sha256:y",
        "cluster": {"name": "lab"}, "changes": [], "summary": {"add": 1}, "stack": "stack.yaml",
        "phases": [{"name": a["phase"], "actions": [a["id"]]} for a in actions], "actions": actions,
    }


def _show(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "provision", "show", str(path)], capture_output=True, text=True,
                          timeout=120, check=False)


def test_a_plan_file_with_an_unknown_parameter_is_one_clear_error(tmp_path: Path) -> None:
    from provision.plan import planfile

    action = {**_cases(Kind.CEPH_POOL_CREATE)[0]["action"], "step": 1}  # as a plan file holds it
    good = tmp_path / "good.json"
    planfile.save(_plan_document([action]), good)
    assert _show(good).returncode == 0, _show(good).stderr
    action["params"] = {**action["params"], "minsize": 1}
    bad = tmp_path / "bad.json"
    planfile.save(_plan_document([action]), bad)  # re-sealed: the digest matches, the params do not
    result = _show(bad)
    assert result.returncode == 1
    assert "ceph_pool_create parameters: minsize: unknown parameter" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_a_plan_file_edited_after_it_was_made_is_refused(tmp_path: Path) -> None:
    from provision.plan import planfile

    action = {**_cases(Kind.HA_RESOURCE_REMOVE)[0]["action"], "step": 1}
    path = tmp_path / "plan.json"
    planfile.save(_plan_document([action]), path)
    doc = json.loads(path.read_text())
    doc["actions"][0]["params"]["sid"] = "vm:100"
    path.write_text(json.dumps(doc))
    result = _show(path)
    assert result.returncode == 1
    assert "modified after it was made" in result.stderr + result.stdout
