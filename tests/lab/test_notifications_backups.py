"""Notification targets/matchers and backup jobs as PVE keeps and serves them
(docs/lab-contract.md "Notifications and backup jobs"): real HTTP to the lab and its
node `pvesh`, the files in the node's /etc/pve."""

from __future__ import annotations

import json

from labkit import LabHandle


def _etc(lab: LabHandle, name: str) -> str:
    path = lab.root / "nodes/pve01/root/etc/pve" / name
    return path.read_text() if path.exists() else ""


def test_a_fresh_node_has_the_builtin_target_and_matcher(lab8: LabHandle) -> None:
    targets = lab8.get("/cluster/notifications/endpoints/sendmail")
    assert [(t["name"], t["mailto-user"], t["origin"]) for t in targets] == [("mail-to-root", ["root@pam"], "builtin")]
    matchers = lab8.get("/cluster/notifications/matchers")
    assert [(m["name"], m["target"], m["mode"]) for m in matchers] == [("default-matcher", ["mail-to-root"], "all")]


def test_smtp_password_lives_in_priv_and_is_never_returned(lab8: LabHandle) -> None:
    lab8.node("pve01", "pvesh", "create", "/cluster/notifications/endpoints/smtp", "--name", "relay",
              "--server", "smtp.example.com", "--from-address", "pve@example.com", "--mailto", "a@example.com",
              "--mailto", "b@example.com", "--password", "s3cret-value")
    got = lab8.get("/cluster/notifications/endpoints/smtp/relay")
    assert got["mailto"] == ["a@example.com", "b@example.com"] and "password" not in got and got["digest"]
    assert "s3cret-value" not in _etc(lab8, "notifications.cfg")
    assert "smtp: relay\n\tpassword s3cret-value\n" in _etc(lab8, "priv/notifications.cfg")
    assert "\tmailto a@example.com\n\tmailto b@example.com\n" in _etc(lab8, "notifications.cfg")
    # a mail target needs a recipient; a name is unique across targets and matchers
    r = lab8.request("POST", "/cluster/notifications/endpoints/sendmail", name="nobody")
    assert r.status_code == 400 and "at least provide one recipient" in r.text
    r = lab8.request("POST", "/cluster/notifications/matchers", name="relay")
    assert r.status_code == 400 and "an entity with the same name already exists" in r.text


def test_matchers_need_their_targets_and_keep_them_in_use(lab8: LabHandle) -> None:
    r = lab8.request("POST", "/cluster/notifications/matchers", name="m1", target="nowhere")
    assert r.status_code == 404 and "endpoint 'nowhere' does not exist" in r.text
    lab8.node("pve01", "pvesh", "create", "/cluster/notifications/endpoints/sendmail", "--name", "ops",
              "--mailto", "ops@example.com")
    lab8.node("pve01", "pvesh", "create", "/cluster/notifications/matchers", "--name", "fencing",
              "--match-field", "exact:type=fencing,replication", "--match-field", "regex:hostname=^pve0[12]$",
              "--target", "ops")
    m = lab8.get("/cluster/notifications/matchers/fencing")
    assert m["match-field"] == ["exact:type=fencing,replication", "regex:hostname=^pve0[12]$"]
    r = lab8.request("DELETE", "/cluster/notifications/endpoints/sendmail/ops")
    assert r.status_code == 400 and "cannot delete 'ops', referenced by: fencing" in r.text
    stale = lab8.request("PUT", "/cluster/notifications/matchers/fencing", digest="0" * 64, comment="x")
    assert stale.status_code == 400 and "detected modified configuration" in stale.text
    lab8.node("pve01", "pvesh", "set", "/cluster/notifications/matchers/fencing", "--delete=match-field")
    assert "match-field" not in lab8.get("/cluster/notifications/matchers/fencing")
    lab8.ok("DELETE", "/cluster/notifications/matchers/fencing")
    lab8.ok("DELETE", "/cluster/notifications/endpoints/sendmail/ops")


def test_backup_jobs_in_jobs_cfg(lab8: LabHandle) -> None:
    lab8.node("pve01", "pvesh", "create", "/cluster/backup", "--id", "nightly", "--schedule", "21:30",
              "--storage", "nowhere", "--exclude", "102", "--prune-backups", "keep-daily=7")
    job = lab8.get("/cluster/backup/nightly")
    # exclude without pool means all; enabled defaults to 1; the storage is not checked on save
    assert (job["all"], job["enabled"], job["storage"], job["type"]) == (1, 1, "nowhere", "vzdump")
    assert "vzdump: nightly\n" in _etc(lab8, "jobs.cfg")
    r = lab8.request("POST", "/cluster/backup", id="nightly", schedule="daily", all=1)
    assert r.status_code == 500 and "Job 'nightly' already exists" in r.text
    r = lab8.request("POST", "/cluster/backup", id="x", schedule="daily", all=1, vmid="100")
    assert r.status_code == 400 and "option conflicts with option 'vmid'" in r.text
    r = lab8.request("POST", "/cluster/backup", id="x", schedule="daily", pool="nosuchpool")
    assert r.status_code == 403 and "pool 'nosuchpool' does not exist" in r.text
    # a vmid list replaces the selection
    lab8.node("pve01", "pvesh", "set", "/cluster/backup/nightly", "--vmid", "100,101", "--delete", "prune-backups")
    job = lab8.get("/cluster/backup/nightly")
    assert job["vmid"] == "100,101" and "all" not in job and "exclude" not in job and "prune-backups" not in job
    listed = json.loads(lab8.node("pve01", "pvesh", "get", "/cluster/backup", "--output-format", "json").stdout)
    assert [j["id"] for j in listed] == ["nightly"]
    lab8.node("pve01", "pvesh", "delete", "/cluster/backup/nightly")
    r = lab8.request("GET", "/cluster/backup/nightly")
    assert r.status_code == 400 and "No such job 'nightly'" in r.text
