"""End to end: the real `provision` CLI, real Ansible and a blank 3-node lab.

One lab for the module (a full build takes about a minute); the tests run in order
and each leaves the cluster converged for the next. Timing is measured in
bench/apply_full_build.py, never asserted here.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_lab import PROVISION, SECRET, Lab
from e2e_lab import stack_copy as _lab_stack_copy

from provision.apply import record
from provision.spec import load_stack

pytestmark = pytest.mark.e2e

WEB_OLD = "- {name: web, nodes: {pve01: 2, pve02: 2, pve03: 1}}"
WEB_NEW = "- {name: web, nodes: {pve01: 2, pve02: 2, pve03: 3}}"
OSD_LAST = "      - {node: pve03, device: /dev/sdg, device_class: ssd}"
OSD_NEW = OSD_LAST + "\n      - {node: pve02, device: /dev/sdh, device_class: ssd}"
# stacks/lab.yaml is a PVE 8 stack; `pvecm create` has --token-coefficient only from
# pve-cluster 9.1, so on PVE 8 the planner must follow the create with a totem set. Every
# stack of this module carries it, so the one blank build also proves that path.
TOKEN_COEFFICIENT = 125


# Issue #15's kinds ride on the same blank build: the HA shutdown policy, datacenter
# options, notification targets (SMTP, sendmail, webhook; the SMTP password and the
# webhook's secret are the e2e secret) and a matcher, and a
# backup job to the PBS storage the same plan adds. (A node's watchdog module is checked
# on the node at every apply, so it would make the no-op apply below run Ansible; it has
# its own module, test_e2e_datacenter.py.)
HA_POLICY = "ha:\n  shutdown_policy: migrate\n"
ISSUE15 = """
datacenter:
  migration: {type: secure, network: 192.168.10.0/24}
  email_from: pve@lab.example
  max_workers: 4
notifications:
  targets:
    - {name: ops-mail, type: smtp, server: smtp.lab.example, port: 587, mode: starttls, username: pve,
       password: {env: PBS_PASSWORD}, from_address: pve@lab.example, mailto: [ops@lab.example]}
    - {name: oncall, type: sendmail, mailto: [oncall@lab.example]}
    - {name: chat, type: webhook, url: "https://chat.lab.example/hooks/{{ secrets.channel }}", method: post,
       headers: {Content-Type: application/json}, body: '{"text": "{{ title }}"}',
       secrets: {channel: {env: PBS_PASSWORD}}}
  matchers:
    - {name: fencing, match_field: ["exact:type=fencing"], match_severity: [error], target: [ops-mail, oncall]}
backups:
  jobs:
    - {id: ha-guests, schedule: "21:30", storage: pbs-backup, vmids: [100, 101, 102, 200], mode: snapshot}
"""


def stack_copy(dst: Path, edit: Callable[[str], str] | None = None) -> Path:
    """stacks/lab.yaml with `corosync.token_coefficient` and issue #15's sections, then `edit`."""
    def with_token(text: str) -> str:
        assert "corosync:\n" in text and text.count("\nha:\n") == 1
        text = text.replace("corosync:\n", f"corosync:\n  token_coefficient: {TOKEN_COEFFICIENT}\n", 1)
        text = text.replace("\nha:\n", "\n" + HA_POLICY, 1)
        text += ISSUE15
        return edit(text) if edit is not None else text

    return _lab_stack_copy(dst, with_token)


@pytest.fixture(scope="module")
def base_stack(lab: Lab) -> Path:
    return stack_copy(lab.work / "lab.yaml")


@pytest.fixture(scope="module")
def changed_stack(lab: Lab) -> Path:
    def edit(text: str) -> str:
        assert WEB_OLD in text and OSD_LAST in text
        return text.replace(WEB_OLD, WEB_NEW).replace(OSD_LAST, OSD_NEW)

    return stack_copy(lab.work / "lab-changed.yaml", edit)


def _plan_exit(lab: Lab, stack: Path) -> int:
    proc = lab.cli("plan", str(stack), "--detailed-exitcode")
    assert proc.returncode in (0, 2), proc.stderr
    return proc.returncode


def test_full_build_converges(lab: Lab, base_stack: Path) -> None:
    assert _plan_exit(lab, base_stack) == 2  # a blank lab needs work
    proc = lab.cli("apply", str(base_stack), "--auto-approve", "--format", "json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    final = json.loads(proc.stdout.strip().splitlines()[-1])
    assert final["status"] == "applied"
    assert _plan_exit(lab, base_stack) == 0
    run = lab.runs()[-1]
    summary = lab.summary(run)
    assert summary["ok"] and not summary["actions"]["not_done"] and summary["tasks"]["changed"] > 0
    for rel in ("plan.json", "events.jsonl", "project/site.yml", "inventory/hosts.yml"):
        assert (run / rel).is_file(), rel
    # every JSON line on stdout is an event or the final summary
    assert all(json.loads(line).get("event") for line in proc.stdout.strip().splitlines())
    read = lab.node_cli("pve01", "pvesh", "get", "/cluster/config/totem", "--output-format", "json")
    assert read.returncode == 0, read.stderr
    totem = json.loads(read.stdout)
    assert totem.get("token_coefficient") == str(TOKEN_COEFFICIENT)


def test_issue15_kinds_are_built_and_import_back(lab: Lab, base_stack: Path) -> None:
    """The #15 sections the blank build applied are on the cluster, and `provision import`
    reads them back into a stack that plans to zero changes."""
    def get(path: str) -> Any:
        out = lab.node_cli("pve02", "pvesh", "get", path, "--output-format", "json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    opts = get("/cluster/options")
    assert opts["ha"]["shutdown_policy"] == "migrate" and opts["max_workers"] == "4"
    assert opts["migration"] == {"type": "secure", "network": "192.168.10.0/24"}
    assert {t["name"] for t in get("/cluster/notifications/targets")} >= {"ops-mail", "oncall", "chat"}
    assert [j["id"] for j in get("/cluster/backup")] == ["ha-guests"]

    imported = lab.work / "imported.yaml"
    proc = lab.cli("import", "--lab", "default", "--out", str(imported), "--force")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got, want = load_stack(imported).cluster, load_stack(base_stack).cluster
    assert got.ha.shutdown_policy == want.ha.shutdown_policy
    assert (got.datacenter.migration, got.datacenter.email_from, got.datacenter.max_workers) == (
        want.datacenter.migration, want.datacenter.email_from, want.datacenter.max_workers)
    # import writes objects sorted by name; the re-plan below proves the values equal
    assert sorted((t.name, t.type) for t in got.notifications.targets) == sorted(
        (t.name, t.type) for t in want.notifications.targets)
    assert [(m.name, sorted(m.target), m.match_field) for m in got.notifications.matchers] == [
        (m.name, sorted(m.target), m.match_field) for m in want.notifications.matchers]
    assert [(j.id, j.storage, j.schedule, j.vmids) for j in got.backups.jobs] == [
        (j.id, j.storage, j.schedule, j.vmids) for j in want.backups.jobs]
    chat = next(t for t in got.notifications.targets if t.name == "chat")
    assert sorted(chat.secrets) == ["channel"]  # PVE answers a webhook secret's name, never its value
    env = {**lab.env, **{v: SECRET for v in ("PBS_BACKUP_PASSWORD", "OPS_MAIL_PASSWORD", "CHAT_SECRET_CHANNEL")}}
    replan = subprocess.run([*PROVISION, "plan", str(imported), "--detailed-exitcode"], cwd=lab.work, env=env,
                            capture_output=True, text=True, timeout=900, input="", check=False)
    assert replan.returncode == 0, replan.stdout + replan.stderr


def test_run_dir_holds_no_secret(lab: Lab) -> None:
    assert lab.runs(), "the full build left no run record"
    for run in lab.runs():
        assert record.find_secrets(run, [SECRET]) == []
    # the PBS storage exists, so the secret did reach the node command
    out = lab.node_cli("pve01", "pvesh", "get", "/storage", "--output-format", "json")
    assert "pbs-backup" in {s["storage"] for s in json.loads(out.stdout)}


def test_second_apply_runs_no_ansible(lab: Lab, base_stack: Path) -> None:
    before = lab.runs()
    proc = lab.cli("apply", str(base_stack), "--auto-approve")
    assert proc.returncode == 0, proc.stderr
    assert "No changes." in proc.stdout
    assert lab.runs() == before


def test_osd_and_group_priority_change(lab: Lab, changed_stack: Path) -> None:
    assert _plan_exit(lab, changed_stack) == 2
    proc = lab.cli("apply", str(changed_stack), "--auto-approve", "--quiet")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # --quiet: one line per phase, then the summary; no plan, no JSON, nothing on stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("Apply complete:"), proc.stdout
    assert lines[:-1] and all(line.startswith("Phase ") for line in lines[:-1]), proc.stdout
    assert len(lines[:-1]) == len(set(lines[:-1]))
    assert proc.stderr.strip() == ""
    assert _plan_exit(lab, changed_stack) == 0
    run = lab.runs()[-1]
    kinds = sorted(a["kind"] for a in json.loads((run / "plan.json").read_text())["actions"])
    assert kinds == ["ceph_osd_create", "ha_group_set"]
    groups = json.loads(lab.node_cli("pve01", "pvesh", "get", "/cluster/ha/groups", "--output-format",
                                     "json").stdout)
    web = next(g for g in groups if g["group"] == "web")
    assert sorted(web["nodes"].split(",")) == ["pve01:2", "pve02:2", "pve03:3"]


def test_stale_plan_file_is_refused(lab: Lab, changed_stack: Path) -> None:
    stack = stack_copy(lab.work / "lab-comment.yaml",
                       lambda t: (t.replace(WEB_OLD, WEB_NEW).replace(OSD_LAST, OSD_NEW)
                                  .replace("comment: internal DNS", "comment: internal DNS (primary)")))
    planfile = lab.work / "stale.json"
    assert lab.cli("plan", str(stack), "--out", str(planfile)).returncode == 0
    # reality moves after the plan was made
    moved = lab.node_cli("pve01", "ha-manager", "set", "vm:100", "--max_restart", "3")
    assert moved.returncode == 0, moved.stderr
    before = lab.runs()
    proc = lab.cli("apply", str(planfile), "--auto-approve")
    assert proc.returncode == 1
    assert "plan is stale" in proc.stderr
    assert lab.runs() == before
    # converge again for the following tests
    assert lab.cli("apply", str(changed_stack), "--auto-approve").returncode == 0


def test_concurrent_apply_is_refused(lab: Lab, changed_stack: Path) -> None:
    from provision.apply.lock import ApplyLock, ProxmoxerPools
    from provision.discover import ProxmoxerTransport, from_lab

    stack = stack_copy(lab.work / "lab-concurrent.yaml",
                       lambda t: (t.replace(WEB_OLD, WEB_NEW).replace(OSD_LAST, OSD_NEW)
                                  .replace("max_relocate: 2", "max_relocate: 3")))
    import os

    os.environ["PROVISION_HOME"] = str(lab.home)
    try:
        other = ApplyLock(ProxmoxerPools(ProxmoxerTransport(from_lab("default")).api), "lab",
                          lab.work / "other-checkout")
        held = other.acquire("someone-elses-plan")
    finally:
        del os.environ["PROVISION_HOME"]
    try:
        before = lab.runs()
        proc = lab.cli("apply", str(stack), "--auto-approve")
        assert proc.returncode == 1
        assert "another apply holds the cluster 'lab' lock" in proc.stderr
        assert held.id in proc.stderr and held.holder in proc.stderr
        assert f"`provision apply {stack} --force-unlock {held.id}`" in proc.stderr
        assert lab.runs() == before  # refused before Ansible: no run record
        assert _plan_exit(lab, stack) == 2  # nothing was applied
    finally:
        unlock = lab.cli("apply", str(stack), "--force-unlock", held.id)
    assert unlock.returncode == 0, unlock.stderr
    assert lab.cli("apply", str(changed_stack), "--auto-approve").returncode == 0


def test_destructive_change_needs_allow_destroy(lab: Lab, changed_stack: Path) -> None:
    without_osd = stack_copy(lab.work / "lab-no-sdh.yaml", lambda t: t.replace(WEB_OLD, WEB_NEW))
    before = lab.runs()
    # the OSD on pve02:/dev/sdh is no longer in the stack; --prune plans to destroy it
    proc = lab.cli("apply", str(without_osd), "--auto-approve", "--prune")
    assert proc.returncode == 1
    assert "--allow-destroy" in proc.stderr and 'ceph.osd["pve02:/dev/sdh"]' in proc.stderr
    assert lab.runs() == before
    assert _plan_exit(lab, changed_stack) == 0  # nothing changed


def test_no_tty_without_auto_approve_is_refused(lab: Lab, base_stack: Path) -> None:
    stack = stack_copy(lab.work / "lab-tty.yaml", lambda t: t.replace(OSD_LAST, OSD_NEW)
                       .replace("comment: internal DNS", "comment: DNS"))
    proc = lab.cli("apply", str(stack))
    assert proc.returncode == 1
    assert "--auto-approve" in proc.stderr
