"""Plans of notification targets, matchers and backup jobs over recorded API answers:
built-ins left alone unless named, secrets never compared, updates that send only what
changed (plus `delete`), removals ordered as PVE needs them."""

from __future__ import annotations

from typing import Any

import pytest
from plan_helpers import Observe, stack_from

from provision.plan import make_plan
from provision.plan.errors import PlanError

BUILTIN = {
    "/cluster/notifications/endpoints/sendmail": [
        {"name": "mail-to-root", "mailto-user": ["root@pam"], "comment": "Send mails to root@pam's email address",
         "origin": "builtin"}],
    "/cluster/notifications/endpoints/smtp": [],
    "/cluster/notifications/endpoints/gotify": [],
    "/cluster/notifications/matchers": [
        {"name": "default-matcher", "mode": "all", "target": ["mail-to-root"], "origin": "builtin"}],
    "/cluster/backup": [],
}
SMTP = {"name": "relay", "server": "smtp.example.com", "mode": "starttls", "port": 587, "username": "pve",
        "from-address": "pve@example.com", "mailto": ["ops@example.com"], "origin": "user-created"}
STACK_ALERTS = """
notifications:
  targets:
    - {name: relay, type: smtp, server: smtp.example.com, mode: starttls, port: 587, username: pve,
       password: {env: SMTP_PASSWORD}, from_address: pve@example.com, mailto: [ops@example.com]}
  matchers:
    - {name: fencing, match_field: ["exact:type=fencing"], target: [relay]}
backups:
  jobs:
    - {id: nightly, schedule: daily, storage: pbs-backup, all: true, exclude: [102]}
"""
JOB = {"id": "nightly", "type": "vzdump", "schedule": "daily", "storage": "pbs-backup", "all": 1, "exclude": "102",
       "enabled": 1, "mode": "snapshot", "notification-mode": "auto"}
MATCHER = {"name": "fencing", "match-field": ["exact:type=fencing"], "target": ["relay"], "mode": "all"}


def _answers(**extra: list[dict[str, Any]]) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        data.update(BUILTIN)
        data.update(extra)

    return mutate


def _plan(observe: Observe, text: str, prune: bool = False, **extra: list[dict[str, Any]]) -> Any:
    found = observe("built-pve8", _answers(**extra))
    return make_plan(stack_from(text), found.cluster, found.observed, prune=prune)


def test_a_stack_without_the_keys_leaves_everything_alone(observe: Observe, lab_text: str) -> None:
    plan = _plan(observe, lab_text, prune=True, **{"/cluster/notifications/endpoints/smtp": [SMTP],
                                                   "/cluster/backup": [JOB]})
    assert [str(c.address) for c in plan.changes if "notifications" in str(c.address)
            or "backups" in str(c.address)] == []


def test_creates_in_dependency_order_and_builtins_are_not_reported(observe: Observe, lab_text: str) -> None:
    plan = _plan(observe, lab_text + STACK_ALERTS, prune=True)
    kinds = [a.kind.value for a in plan.actions]
    assert kinds == ["notify_target_add", "notify_matcher_add", "backup_job_add"]
    assert not any("mail-to-root" in str(c.address) or "default-matcher" in str(c.address) for c in plan.changes)
    target = plan.actions[0]
    assert target.params.secrets["password"].secret == "env:SMTP_PASSWORD"  # type: ignore[attr-defined]
    assert ("mailto", "ops@example.com") in [(o.name, o.value) for o in target.params.options]  # type: ignore
    job = plan.actions[2].params
    assert [(o.name, o.value) for o in job.options if o.name in ("all", "exclude")] == [  # type: ignore
        ("all", "1"), ("exclude", "102")]


def test_converged_means_no_changes_although_the_password_cannot_be_read(observe: Observe, lab_text: str) -> None:
    plan = _plan(observe, lab_text + STACK_ALERTS, prune=True, **{
        "/cluster/notifications/endpoints/smtp": [SMTP], "/cluster/notifications/matchers": [
            *BUILTIN["/cluster/notifications/matchers"], MATCHER], "/cluster/backup": [JOB]})
    assert plan.actions == []


def test_an_update_sends_the_changes_and_deletes_what_was_unset(observe: Observe, lab_text: str) -> None:
    text = (lab_text + STACK_ALERTS).replace("port: 587, username: pve,", "port: 2525,")
    text = text.replace("all: true, exclude: [102]}", "vmids: [100, 101]}")
    plan = _plan(observe, text, **{
        "/cluster/notifications/endpoints/smtp": [SMTP], "/cluster/notifications/matchers": [
            *BUILTIN["/cluster/notifications/matchers"], MATCHER], "/cluster/backup": [JOB]})
    by_kind = {a.kind.value: a.params for a in plan.actions}
    smtp = by_kind["notify_target_set"]
    assert [(o.name, o.value) for o in smtp.options] == [("port", "2525")]  # type: ignore[attr-defined]
    assert smtp.delete == ["username"] and smtp.secrets == {}  # type: ignore[attr-defined]
    job = by_kind["backup_job_set"]
    # a new selection is sent whole: PVE drops all/exclude when vmid comes
    assert [(o.name, o.value) for o in job.options] == [("vmid", "100,101")]  # type: ignore[attr-defined]
    assert job.delete == []  # type: ignore[attr-defined]


def test_a_builtin_the_stack_names_is_managed(observe: Observe, lab_text: str) -> None:
    text = lab_text + """
notifications:
  matchers:
    - {name: default-matcher, target: [mail-to-root], disable: true}
"""
    plan = _plan(observe, text)
    (action,) = plan.actions
    assert action.kind.value == "notify_matcher_set"
    assert [(o.name, o.value) for o in action.params.options] == [("disable", "1")]  # type: ignore[attr-defined]


def test_prune_removes_matchers_before_the_targets_they_name(observe: Observe, lab_text: str) -> None:
    text = lab_text + "\nnotifications: {}\nbackups: {jobs: []}\n"
    plan = _plan(observe, text, prune=True, **{
        "/cluster/notifications/endpoints/smtp": [SMTP], "/cluster/notifications/matchers": [
            *BUILTIN["/cluster/notifications/matchers"], MATCHER], "/cluster/backup": [JOB]})
    order = [(a.kind.value, str(a.address)) for a in plan.actions]
    assert order == [("backup_job_remove", 'backups.job["nightly"]'),
                     ("notify_matcher_remove", 'notifications.matcher["fencing"]'),
                     ("notify_target_remove", 'notifications.target["relay"]')]
    removal = plan.actions[2]
    assert plan.actions[1].id in removal.depends_on


HOOK_STACK = """
notifications:
  targets:
    - name: chat
      type: webhook
      url: "https://chat.example.com/{{ secrets.key }}"
      headers: {X-Env: lab}
      body: "{{ title }}"
      secrets: {key: {env: CHAT_KEY}}
"""
HOOK = {"name": "chat", "url": "https://chat.example.com/{{ secrets.key }}", "method": "post",
        "header": ["name=X-Env,value=bGFi"], "body": "e3sgdGl0bGUgfX0=", "secret": ["name=key"],
        "origin": "user-created"}


def test_a_webhook_compares_decoded_headers_and_body_and_secret_names(observe: Observe, lab_text: str) -> None:
    hook = "/cluster/notifications/endpoints/webhook"
    assert _plan(observe, lab_text + HOOK_STACK, **{hook: [HOOK]}).actions == []
    renamed = _plan(observe, lab_text + HOOK_STACK.replace("{key: {env", "{token: {env"), **{hook: [HOOK]})
    (action,) = renamed.actions
    assert action.kind.value == "notify_target_set"
    assert action.params.secrets["token"].secret == "env:CHAT_KEY"  # type: ignore[attr-defined]


def test_a_webhook_on_pve_before_8_3_is_refused(observe: Observe, lab_text: str) -> None:
    def old(data: dict[str, Any]) -> None:
        data.update(BUILTIN)
        data["/version"] = {"release": "8.2", "repoid": "0", "version": "8.2.7"}
        data["/cluster/notifications/endpoints/webhook"] = {"__error__": [
            501, "Method 'GET /cluster/notifications/endpoints/webhook' not implemented"]}

    found = observe("built-pve8", old)
    with pytest.raises(PlanError, match=r"webhook target\(s\) chat need PVE 8.3 or later; the cluster runs 8.2.7"):
        make_plan(stack_from(lab_text + HOOK_STACK), found.cluster, found.observed)
    # without a webhook the same cluster plans (an unanswered webhook endpoint means none)
    assert make_plan(stack_from(lab_text + STACK_ALERTS), found.cluster, found.observed).actions
