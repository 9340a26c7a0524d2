"""Issue 15, part 2: notification targets and matchers, backup jobs to PBS.

From a converged lab (`lab up --from stacks/lab.yaml`) through the real CLI: add an SMTP
target with a password reference, a sendmail target, two matchers and two backup jobs,
apply, plan again to zero changes; change one field and remove one of each, apply, zero
again; `provision import` plans to zero changes. The SMTP password reaches PVE's private
file and nowhere else: not the public file, not the run records (which hold every
command's argv and output), not the plan.

The tests share one lab and run in file order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_lab import Lab, stack_copy, start, stop

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

SMTP_SECRET = "smtp-e2e-Secret-4b2d"
ALERTS = """
notifications:
  targets:
    - {name: ops-mail, type: smtp, server: smtp.example.com, mode: starttls, port: 587, username: pve,
       password: {env: SMTP_PASSWORD}, from_address: pve@example.com, mailto: [ops@example.com]}
    - {name: oncall, type: sendmail, mailto: [oncall@example.com], comment: pager gateway}
  matchers:
    - {name: fencing, match_field: ["exact:type=fencing"], target: [ops-mail, oncall]}
    - {name: backup-failures, match_field: ["exact:type=vzdump"], match_severity: [error], target: [ops-mail]}
backups:
  jobs:
    - {id: nightly, schedule: "21:30", storage: pbs-backup, all: true, exclude: [102],
       retention: {keep_daily: 7, keep_weekly: 4}, notification_mode: notification-system}
    - {id: db-hourly, schedule: hourly, storage: pbs-backup, vmids: [102]}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("work")
    built = start(tmp_path_factory.mktemp("home"), work, "--from", str(stack_copy(work / "base.yaml")),
                  secrets={"SMTP_PASSWORD": SMTP_SECRET})
    try:
        yield built
    finally:
        stop(built)





def _pvesh(lab: Lab, path: str) -> object:
    return json.loads(lab.node_cli("pve01", "pvesh", "get", path, "--output-format", "json").stdout)


def _converged(lab: Lab, stack: Path, *extra: str) -> None:
    proc = lab.cli("plan", str(stack), "--detailed-exitcode", *extra)
    assert proc.returncode == 0 and "No changes." in proc.stdout, proc.stdout + proc.stderr


def test_add_targets_matchers_and_jobs(lab: Lab) -> None:
    stack = lab.with_base("alerts.yaml", ALERTS)
    plan = lab.cli("plan", str(stack))
    assert plan.returncode == 0, plan.stderr
    assert '+ notifications.target["ops-mail"]' in plan.stdout and 'password: "(sensitive)"' in plan.stdout
    assert "Plan: 6 to add, 0 to change, 0 to destroy." in plan.stdout
    proc = lab.cli("apply", str(stack), "--auto-approve")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _converged(lab, stack)
    # PVE's files, as the crate and pve-manager write them
    assert "smtp: ops-mail\n\tpassword " + SMTP_SECRET + "\n" in lab.etc("priv/notifications.cfg")
    public = lab.etc("notifications.cfg")
    assert "smtp: ops-mail\n" in public and SMTP_SECRET not in public
    assert "\ttarget ops-mail\n" in public and "\ttarget oncall\n" in public
    jobs = {j["id"]: j for j in _pvesh(lab, "/cluster/backup")}  # type: ignore[attr-defined]
    assert jobs["nightly"]["prune-backups"] == "keep-daily=7,keep-weekly=4" and jobs["nightly"]["all"] == 1
    assert jobs["db-hourly"]["vmid"] == "102"
    # the built-ins are untouched and not reported
    names = {m["name"] for m in _pvesh(lab, "/cluster/notifications/matchers")}  # type: ignore[attr-defined]
    assert "default-matcher" in names and "default-matcher" not in plan.stdout


def test_change_one_field_and_remove_one_of_each(lab: Lab) -> None:
    text = (ALERTS.replace("port: 587, username: pve,", "port: 2525,")
            .replace("target: [ops-mail, oncall]}", "target: [ops-mail]}")
            .replace("    - {name: oncall, type: sendmail, mailto: [oncall@example.com], comment: pager gateway}\n", "")
            .replace('    - {name: backup-failures, match_field: ["exact:type=vzdump"], match_severity: [error], '
                     "target: [ops-mail]}\n", "")
            .replace("    - {id: db-hourly, schedule: hourly, storage: pbs-backup, vmids: [102]}\n", "")
            .replace("exclude: [102],", "exclude: [101, 102],"))
    stack = lab.with_base("changed.yaml", text)
    plan = lab.cli("plan", str(stack), "--prune")
    out = plan.stdout
    assert plan.returncode == 0, plan.stderr
    assert "port: 587 → 2525" in out and 'username: "pve" → (unset)' in out
    assert '- notifications.target["oncall"]' in out and '- backups.job["db-hourly"]' in out
    assert "Plan: 0 to add, 3 to change, 3 to destroy." in out
    # without --prune, what left the stack is reported, never deleted
    assert '? notifications.target["oncall"]' in lab.cli("plan", str(stack)).stdout
    proc = lab.cli("apply", str(stack), "--prune", "--auto-approve")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _converged(lab, stack, "--prune")
    smtp = _pvesh(lab, "/cluster/notifications/endpoints/smtp/ops-mail")
    assert smtp["port"] == 2525 and "username" not in smtp  # type: ignore[index,operator]
    assert "oncall" not in lab.etc("notifications.cfg")
    assert [j["id"] for j in _pvesh(lab, "/cluster/backup")] == ["nightly"]  # type: ignore[attr-defined]
    assert "password " + SMTP_SECRET in lab.etc("priv/notifications.cfg")  # an update keeps the secret


def test_import_round_trip(lab: Lab) -> None:
    out = lab.work / "imported.yaml"
    proc = lab.cli("import", "--lab", "default", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "ops-mail" in text and "nightly" in text and 'schedule: "21:30"' in text
    assert "mail-to-root" not in text and "default-matcher" not in text
    _converged(lab, out)


def test_the_password_is_in_no_run_record_and_no_plan(lab: Lab) -> None:
    runs = lab.runs()
    assert len(runs) == 2
    leaks = [str(p) for run in runs for p in run.rglob("*") if p.is_file()
             and SMTP_SECRET.encode() in p.read_bytes()]
    assert leaks == []
    # a plan that creates an SMTP target carries the reference, never the value
    alerts = "\nnotifications:" + (lab.work / "changed.yaml").read_text().split("\nnotifications:", 1)[1]
    renamed = lab.with_base("renamed.yaml", alerts.replace("ops-mail", "ops-relay"))
    plan = lab.work / "plan.json"
    proc = lab.cli("plan", str(renamed), "--out", str(plan))
    assert proc.returncode == 0, proc.stderr
    assert SMTP_SECRET not in plan.read_text() and "env:SMTP_PASSWORD" in plan.read_text()
