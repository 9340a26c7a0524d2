"""Rendering: every action kind becomes a playbook that Ansible and ansible-lint accept,
with the exact upstream CLI spellings, and the interfaces file PVE itself would write."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from samples import NODES, all_kinds_plan, case_action

from provision.apply import render
from provision.apply.render import Inventory, RenderError, render_run

VENV_BIN = Path(sys.executable).parent


QNETD = "192.168.10.5"  # the QNetd host of the samples' qnetd_install


def _inventory(qnetd: bool = True) -> Inventory:
    hosts = [*NODES, QNETD] if qnetd else list(NODES)
    return Inventory(hosts=list(NODES), host_vars={n: {"ansible_connection": "local"} for n in hosts},
                     external=[QNETD] if qnetd else [])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> render.RunDir:
    return render_run(all_kinds_plan(), runs_root=tmp_path_factory.mktemp("runs"), inventory=_inventory())


def test_a_qnetd_host_outside_the_inventory_is_refused(tmp_path: Path) -> None:
    """Ansible would SSH to an address nobody described: rendering stops first."""
    with pytest.raises(RenderError, match=f"the QNetd host {QNETD} is not in the inventory"):
        render_run(all_kinds_plan(), runs_root=tmp_path, inventory=_inventory(qnetd=False))
    assert not any(tmp_path.iterdir())


def test_the_qnetd_host_is_its_own_inventory_group(rendered: render.RunDir) -> None:
    inventory = json.loads((rendered.root / "inventory" / "hosts.yml").read_text())
    assert list(inventory["all"]["children"]["qnetd"]["hosts"]) == [QNETD]
    assert QNETD not in inventory["all"]["children"]["pve"]["hosts"]


def _task_file(rd: render.RunDir, kind: str) -> str:
    ra = next(ra for ra in rd.actions if ra.action.kind == kind)
    return (rd.project / ra.file).read_text(encoding="utf-8")


def test_every_kind_has_a_template_and_a_sample(rendered: render.RunDir) -> None:
    kinds = {ra.action.kind for ra in rendered.actions}
    assert kinds == set(render.ACTION_KINDS)
    for kind in render.ACTION_KINDS:
        assert (render.PLAYBOOKS_DIR / "actions" / f"{kind}.yml.j2").is_file(), kind


def test_run_dir_layout(rendered: render.RunDir) -> None:
    root = rendered.root
    for rel in ("project/site.yml", "project/ansible.cfg", "project/library/pve_probe.py",
                "inventory/hosts.yml", "env/settings", "plan.json"):
        assert (root / rel).is_file(), rel
    assert json.loads((root / "plan.json").read_text())["id"] == "p-allkinds"
    assert not (root / "env" / "extravars").exists()
    assert rendered.secret_refs == {"PVE_PROVISION_SECRET_PBS_PASSWORD": "env:PBS_PASSWORD"}
    assert (root / "project" / "vars" / "actions.yml").read_text().startswith("---\n")
    # in each play a node loads only its own actions' values (Ansible re-reads vars_files per task)
    site = (root / "project" / "site.yml").read_text()
    for number, play in enumerate(rendered.plays, start=1):
        assert f"vars/play{number:02d}-{{{{ inventory_hostname | default('') }}}}.yml" in site
        for run in play.runs:
            text = (root / "project" / "vars" / f"play{number:02d}-{run.host}.yml").read_text()
            assert text.startswith("---\n") and "pve_actions: !unsafe {" in text
            assert {f'"{ra.var}"' for _, ra in run.steps} == set(re.findall(r'"a\d{3}"(?=: \{"host")', text))


@pytest.mark.ansible
def test_syntax_check(rendered: render.RunDir) -> None:
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "--syntax-check", "-i", "../inventory/hosts.yml", "site.yml"],
        cwd=rendered.project, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.ansible
def test_ansible_lint_production(rendered: render.RunDir) -> None:
    if shutil.which("ansible-lint", path=str(VENV_BIN)) is None:
        pytest.skip("ansible-lint is not installed in the venv")
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-lint"), "--profile", "production", "--nocolor", "site.yml"],
        cwd=rendered.project, capture_output=True, text=True, check=False,
        env={"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(rendered.root)},
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


def test_every_command_task_is_guarded(rendered: render.RunDir) -> None:
    """A write command runs only behind a `when` (or is itself a read with changed_when false)."""
    from ruamel.yaml import YAML

    for ra in rendered.actions:
        for task in YAML(typ="safe", pure=True).load((rendered.project / ra.file).read_text()):
            if "ansible.builtin.command" not in task:
                continue
            if task.get("changed_when") is False:
                assert task.get("check_mode") is False, task["name"]
                continue
            assert task.get("when"), f"{ra.file}: {task['name']} has no guard"


def test_secret_task_is_no_log_and_names_no_value(rendered: render.RunDir) -> None:
    text = _task_file(rendered, "storage_add")
    assert "no_log: true" in text
    assert "PBS_PASSWORD" not in text


def test_stack_values_are_data_never_playbook_source(rendered: render.RunDir) -> None:
    """Task files and site.yml hold no parameter text at all: every value is in
    vars/actions.yml, under one !unsafe tag, where Ansible never evaluates it."""
    values = (rendered.project / "vars" / "actions.yml").read_text()
    assert values.count("!unsafe") == 1 and "pve_actions: !unsafe {" in values
    data = json.loads(values.split("!unsafe ", 1)[1])
    storage_options = [a["t"]["options"] for a in data.values() if isinstance(a["t"].get("options"), dict)]
    assert any(o.get("options") == "vers=4.2,{{ 7 * 7 }}" for o in storage_options)
    sources = [(rendered.project / "site.yml").read_text()] + [
        (rendered.project / ra.file).read_text() for ra in rendered.actions]
    for text in sources:
        for needle in ("vers=4.2", "{% raw %}", "pbs-backup", "192.168.10.6", "internal DNS", "vm-pool"):
            assert needle not in text, needle


def test_plays_follow_serial_and_dependencies(rendered: render.RunDir) -> None:
    plays = rendered.plays
    phases = [p.phase for p in plays]
    assert [x for i, x in enumerate(phases) if i == 0 or phases[i - 1] != x][:3] == ["network", "cluster", "corosync"]
    join = next(p for p in plays if any(ra.action.kind == "cluster_join" for ra in p.actions))
    # root SSH trust for the joiner first (it needs nothing of the phase), then create and
    # join, one node at a time: two plays, not one per switch between them
    assert join.serial and join.quorum_optional and join.hosts == ["pve01", "pve02"]
    assert [ra.action.kind for ra in join.actions] == ["cluster_create", "cluster_join"]
    trust = plays[plays.index(join) - 1]
    assert [ra.action.kind for ra in trust.actions] == ["ssh_trust"] and trust.hosts == ["pve02"]
    assert not trust.serial
    mon = next(p for p in plays if any(ra.action.kind == "ceph_mon_create" for ra in p.actions))
    assert mon.serial and not mon.quorum_optional
    site = (rendered.project / "site.yml").read_text()
    assert site.count("gather_facts: false") == len(plays)
    assert site.count('environment: "{{ pve_env | default({}) }}"') == len(plays)
    # each play names only its nodes and each node runs only its own task file, which
    # starts with the phase probe (reads and the quorum check in one task)
    for play in plays:
        assert [run.host for run in play.runs] == play.hosts
        for run in play.runs:
            text = (rendered.project / run.file).read_text()
            assert text.count("pve_probe:") >= 1 and text.index("pve_probe:") < text.index("import_tasks")
            assert ("quorum: optional" in text) == play.quorum_optional
            assert {ra.host for _, ra in run.steps} == {run.host}
    assert "inventory_hostname ==" not in site


def test_parallel_play_splits_on_cross_host_dependency(tmp_path: Path) -> None:
    def act(node: str, deps: list[str]) -> dict[str, Any]:
        return {"id": f'ceph.mgr["{node}"]#create', "phase": "ceph", "kind": "ceph_mgr_create", "node": node,
                "address": f'ceph.mgr["{node}"]', "params": {"id": node}, "depends_on": deps}

    plan = {"id": "p", "actions": [act("pve01", []), act("pve02", []), act("pve03", ['ceph.mgr["pve01"]#create'])]}
    rd = render_run(plan, runs_root=tmp_path, inventory=_inventory())
    assert [[ra.action.node for ra in p.actions] for p in rd.plays] == [["pve01", "pve02"], ["pve03"]]
    site = (rd.project / "site.yml").read_text()
    assert "strategy: free" not in site and site.count("any_errors_fatal: true") == len(rd.plays)
    assert site.count("strategy: pve_parallel") == 1  # the two-node play: nodes side by side, stopped together
    # the two-node play: each node includes its own file; the one-node play imports it
    assert 'include_tasks: "tasks/play01-{{ inventory_hostname }}.yml"' in site
    assert 'import_tasks: "tasks/play02-pve03.yml"' in site
    assert all((rd.project / f"tasks/play01-{n}.yml").is_file() for n in ("pve01", "pve02"))


def test_unknown_kind_and_node_are_refused(tmp_path: Path) -> None:
    bad = {"id": "p", "actions": [{"id": 'ceph.mgr["pve09"]#create', "phase": "ceph", "kind": "ceph_explode",
                                    "node": None, "address": 'ceph.mgr["pve09"]', "params": {"id": "pve09"}}]}
    with pytest.raises(RenderError, match="'ceph_explode' is not a valid Kind"):
        render_run(bad, runs_root=tmp_path, inventory=_inventory())
    bad["actions"][0].update(kind="ceph_mgr_create", node="pve09")
    with pytest.raises(RenderError, match="not in the inventory"):
        render_run(bad, runs_root=tmp_path, inventory=_inventory())


def test_two_secret_references_with_one_variable_name_are_refused(tmp_path: Path) -> None:
    """`env:pbs` and `env:PBS` would both travel as PVE_PROVISION_SECRET_PBS: one storage
    would get the other's password."""
    first = case_action("storage_add", "pbs-with-password")
    second = json.loads(json.dumps(first))
    first["params"]["secrets"]["password"]["secret"] = "env:pbs"
    second["params"]["secrets"]["password"]["secret"] = "env:PBS"
    second["params"]["storage"] = "pbs-other"
    second["id"], second["address"] = 'storage["pbs-other"]#add', 'storage["pbs-other"]'
    plan = {"id": "p", "actions": [first, second]}
    with pytest.raises(RenderError, match="'env:pbs' and 'env:PBS' both map to the variable PVE_PROVISION_SECRET_PBS"):
        render_run(plan, runs_root=tmp_path, inventory=_inventory())
    second["params"]["secrets"]["password"]["secret"] = "env:pbs"  # the same reference twice is one secret
    render_run(plan, runs_root=tmp_path, inventory=_inventory())


# -- /etc/network/interfaces -----------------------------------------------------------

def test_secret_in_a_template_without_no_log_is_refused(tmp_path: Path) -> None:
    playbooks = tmp_path / "playbooks"
    shutil.copytree(render.PLAYBOOKS_DIR, playbooks)
    for template in (playbooks / "actions" / "storage_add.yml.j2", playbooks / "_macros.j2"):
        template.write_text(re.sub(r"(?m)^ *no_log: true\n", "", template.read_text()))
    plan = {"id": "p-leak", "actions": [case_action("storage_add", "pbs-with-password")]}
    runs = tmp_path / "runs"
    runs.mkdir()
    with pytest.raises(RenderError, match="secret without no_log"):
        render_run(plan, runs_root=runs, inventory=_inventory(), playbooks=playbooks)
    assert list(runs.iterdir()) == []  # nothing half-rendered is left behind


def test_one_probe_per_node_and_play_and_a_fresh_one_where_the_play_changed_the_object(tmp_path: Path) -> None:
    """A storage removed and added again in one play (a replace): the add's guard must not
    read the list from before the remove. Everything else shares the play's first probe."""
    def storage(sid: str, verb: str) -> dict[str, Any]:
        params: dict[str, Any] = ({"storage": sid} if verb == "remove"
                                  else {"storage": sid, "type": "dir", "options": {"path": "/srv/" + sid}})
        return {"id": f'storage["{sid}"]#{verb}', "phase": "storage", "kind": f"storage_{verb}", "node": None,
                "address": f'storage["{sid}"]', "params": params}

    plan = {"id": "p", "actions": [storage("a", "add"), storage("b", "remove"), storage("b", "add"),
                                   storage("c", "add")]}
    rd = render_run(plan, runs_root=tmp_path, inventory=_inventory())
    assert len(rd.plays) == 1 and [run.host for run in rd.plays[0].runs] == ["pve01"]
    run = rd.plays[0].runs[0]
    assert [(bool(reads), ra.action.id.verb) for reads, ra in run.steps] == [
        (True, "add"), (False, "remove"), (True, "add"), (False, "add")]
    assert all("/storage" in reads for reads, _ in run.steps if reads)
    text = (rd.project / run.file).read_text()
    assert text.count("pve_probe:") == 2 and "pvesh" not in text
    site = (rd.project / "site.yml").read_text()
    assert f'import_tasks: "{run.file}"' in site and "include_tasks" not in site


def test_consecutive_adds_of_a_batchable_kind_on_one_node_are_one_task(rendered: render.RunDir) -> None:
    """The sample plan's two HA resource adds: one pve_batch task whose members keep their
    own labels and values (data in vars/actions.yml, never in the task file)."""
    assert "ha_resource_add" in render.batchable_kinds()
    [(first, members)] = rendered.batches.items()
    assert len(members) == 2 and first == members[0]
    run = next(r for p in rendered.plays for r in p.runs if any(b for _, _, b in r.parts))
    [batch] = [b for _, _, b in run.parts if b]
    text = (rendered.project / batch).read_text()
    assert text.count("pve_batch:") == 1 and text.count("'label':") == 2
    assert "vm:101" not in text and "lookup" not in text
    assert f"pve_actions.a{members[1]}.t.sid" in text
    assert '--failback' in text  # the PVE 9 case's flag, decided per member
    host_run = (rendered.project / run.file).read_text()
    assert f"Action {first}: ha_resource_add (2 actions in one task)" in host_run
    names = {ra.label: ra.task_names for ra in rendered.actions}
    assert names[members[0]] == names[members[1]] == [f"Action {first}: ha-manager add, 2 resources one after "
                                                      "the other"]


def test_each_batch_of_network_reloads_is_one_play_of_its_nodes_side_by_side(tmp_path: Path) -> None:
    def net(node: str, after: list[str]) -> dict[str, Any]:
        action = case_action("network_apply")
        action.update(id=f'network["{node}"]#apply', address=f'network["{node}"]', node=node,
                      depends_on=[f'network["{a}"]#apply' for a in after])
        return action

    # as the planner chains them: each reload waits for every reload of the batch before it
    plan = {"id": "p", "actions": [net("pve01", []), net("pve02", []), net("pve03", ["pve01", "pve02"])]}
    rd = render_run(plan, runs_root=tmp_path, inventory=_inventory(qnetd=False))
    assert [(p.hosts, p.serial) for p in rd.plays] == [(["pve01", "pve02"], False), (["pve03"], False)]
    site = (rd.project / "site.yml").read_text()
    assert "\n  serial: 1" not in site and site.count("strategy: pve_parallel") == 1
    for host in ("pve01", "pve02"):  # each node: its probe, then its own four tasks
        text = (rd.project / f"tasks/play01-{host}.yml").read_text()
        assert text.count("pve_probe:") == 1 and text.count("import_tasks:") == 1
    action = (rd.project / rd.actions[0].file).read_text()
    assert [t for t in render._leaf_task_names(render._yaml_load(action)) if "stop:" not in t] == [
        "Action 001: stage interfaces.new and check it with ifupdown2 and PVE's reader",
        "Action 001: keep the current file, schedule the node's own revert, move interfaces.new into place, "
        "ifreload -a",
        "Action 001: wait until the controller reaches the node again",
        "Action 001: confirm: online, quorate, Corosync links connected; cancel the revert"]


def _storage_adds_plan() -> dict[str, Any]:
    """Two storages without secrets (one with a Jinja-looking option) and one PBS with a
    password, added one after the other on one node."""
    nfs = case_action("storage_add", "nfs-comment-is-data")
    other = json.loads(json.dumps(nfs))
    other["params"]["storage"] = "nfs-other"
    other["id"], other["address"] = 'storage["nfs-other"]#add', 'storage["nfs-other"]'
    return {"id": "p-storages", "actions": [nfs, other, case_action("storage_add", "pbs-with-password")]}


@pytest.mark.ansible
def test_storage_adds_without_secrets_are_one_task_and_a_secret_is_not_batched(tmp_path: Path) -> None:
    rd = render_run(_storage_adds_plan(), runs_root=tmp_path, inventory=_inventory())
    [(first, members)] = rd.batches.items()
    labels = {ra.action.params.storage: ra.label for ra in rd.actions}  # type: ignore[attr-defined]
    assert members == [labels["nfs-iso"], labels["nfs-other"]] and first == members[0]
    run = next(r for p in rd.plays for r in p.runs)
    [batch] = [b for _, _, b in run.parts if b]
    text = (rd.project / batch).read_text()
    assert text.count("pve_batch:") == 1 and text.count("'label':") == 2
    assert "7 * 7" not in text and "192.168.10.5" not in text  # values stay in the vars files
    assert "PVE_PROVISION_SECRET" not in text and ".secrets" not in text and "lookup" not in text
    pbs = next(ra for ra in rd.actions if ra.label == labels["pbs-backup"])
    assert "no_log: true" in (rd.project / pbs.file).read_text()
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "--syntax-check", "-i", "../inventory/hosts.yml", "site.yml"],
        cwd=rd.project, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if shutil.which("ansible-lint", path=str(VENV_BIN)) is not None:
        proc = subprocess.run(
            [str(VENV_BIN / "ansible-lint"), "--profile", "production", "--nocolor", "site.yml"],
            cwd=rd.project, capture_output=True, text=True, check=False,
            env={"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(rd.root)},
        )
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


def test_an_independent_action_joins_the_earliest_play_its_dependencies_allow(tmp_path: Path) -> None:
    """The Ceph part of a blank build as the planner orders it: install on every node,
    init, MONs one node at a time, OSDs, then pool, MDS and file system. The init joins
    the first MON's node (a run on one node takes its next action, serial or not), the
    MDS creates (which need only the first MON) join the OSD play, and the file system
    joins the pool's play; nothing runs before what it depends on."""
    def act(kind: str, node: str, aid: str, after: list[str]) -> dict[str, Any]:
        action = case_action(kind)
        action.update(id=aid, address=aid.split("#")[0], node=node, depends_on=after)
        return action

    def mon(n: str) -> str:
        return f'ceph.mon["{n}"]#create'

    osd = [f'ceph.osd["{n}:/dev/sdb"]#create' for n in NODES]
    installs = [act("ceph_install", n, f'node["{n}"]#install-ceph', []) for n in NODES]
    init = act("ceph_init", "pve01", "ceph#init", [a["id"] for a in installs])
    mons = [act("ceph_mon_create", n, mon(n), [before]) for n, before in
            zip(NODES, ["ceph#init", mon("pve01"), mon("pve02")], strict=True)]
    osds = [act("ceph_osd_create", n, i, [mon("pve03")]) for n, i in zip(NODES, osd, strict=True)]
    later = [act("ceph_pool_create", "pve01", 'ceph.pool["vm"]#create', osd),
             act("ceph_mds_create", "pve01", 'ceph.mds["pve01"]#create', [mon("pve01")]),
             act("ceph_mds_create", "pve02", 'ceph.mds["pve02"]#create', [mon("pve01")]),
             act("ceph_fs_create", "pve01", 'ceph.fs["cephfs"]#create',
                 ['ceph.mds["pve01"]#create', 'ceph.mds["pve02"]#create', *osd])]
    plan = {"id": "p", "actions": [*installs, init, *mons, *osds, *later]}
    rd = render_run(plan, runs_root=tmp_path, inventory=_inventory(qnetd=False))
    plays = [(p.hosts, p.serial, [str(ra.action.id) for ra in p.actions]) for p in rd.plays]
    assert plays == [
        (NODES, False, [a["id"] for a in installs]),
        (NODES, True, ["ceph#init", mon("pve01"), mon("pve02"), mon("pve03")]),
        (NODES, False, [*osd, 'ceph.mds["pve01"]#create', 'ceph.mds["pve02"]#create']),
        (["pve01"], False, ['ceph.pool["vm"]#create', 'ceph.fs["cephfs"]#create']),
    ]
    site = (rd.project / "site.yml").read_text()
    assert site.count("\n  serial: 1") == 1
