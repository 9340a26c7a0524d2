"""Changes of notification targets, matchers and backup jobs -> actions.

Spec fields map to PVE's option names (`mailto_user` -> `mailto-user`, a job's
`retention` -> `prune-backups`, `vmids` -> `vmid`); values become PVE's text, an array one
`--name value` pair per item. An update sends only the changed fields, plus `delete` for
fields going back to unset, as PVE's API expects. Secrets stay references.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from provision.actions import Kind, Phase, Verb
from provision.actions import params as P
from provision.actions.values import pve_text
from provision.spec.backups import BackupJob, Retention
from provision.spec.secrets import SecretRef

# spec field -> PVE option
_NAMES = {"mailto_user": "mailto-user", "from_address": "from-address", "match_field": "match-field",
          "match_severity": "match-severity", "match_calendar": "match-calendar", "invert_match": "invert-match",
          "notification_mode": "notification-mode", "retention": "prune-backups", "vmids": "vmid",
          "headers": "header", "secrets": "secret"}
# fields that are the object's identity or that PVE never unsets (required, or a default PVE restores)
_NOT_OPTIONS = frozenset({"name", "type", "id"})
_LISTS_AS_TEXT = frozenset({"vmids", "exclude"})  # PVE's vmid lists are one comma-separated value


def _b64(text: str) -> str:
    """Webhook header values and bodies travel and are stored base64-encoded (pve-manager
    `PVE/API2/Cluster/Notifications.pm` webhook_properties; proxmox-notify KeyAndBase64Val)."""
    return base64.b64encode(text.encode()).decode()


def option_name(field: str) -> str:
    return _NAMES.get(field, field)


def options(model: Any, fields: Iterable[str] | None = None) -> tuple[list[dict[str, str]], dict[str, dict[str, str]],
                                                                     list[str]]:
    """(options, secrets, delete) for `fields` of `model` (all fields when None): unset
    values of chosen fields go to `delete` (only on update, when `fields` is given)."""
    chosen = set(fields) if fields is not None else None
    opts: list[dict[str, str]] = []
    secrets: dict[str, dict[str, str]] = {}
    delete: list[str] = []
    for field in type(model).model_fields:
        if field in _NOT_OPTIONS or (chosen is not None and field not in chosen):
            continue
        value = getattr(model, field)
        name = option_name(field)
        if value is None or value in ([], {}) or (field == "all" and value is False and chosen is None):
            if chosen is not None:
                delete.append(name)
            continue
        if isinstance(value, SecretRef):
            secrets[name] = {"secret": value.describe()}
        elif field == "secrets":  # a webhook's named secrets, each written by name
            secrets.update({key: {"secret": ref.describe()} for key, ref in sorted(value.items())})
        elif field == "headers":  # PVE's `name=<n>,value=<base64>` per header
            opts += [{"name": name, "value": f"name={key},value={_b64(text)}"} for key, text in sorted(value.items())]
        elif field == "body":
            opts.append({"name": name, "value": _b64(value)})
        elif isinstance(value, Retention):
            opts.append({"name": name, "value": value.pve_text()})
        elif isinstance(value, list) and field not in _LISTS_AS_TEXT:
            opts += [{"name": name, "value": str(pve_text(v))} for v in value]
        else:
            opts.append({"name": name, "value": str(pve_text(value))})
    return opts, secrets, sorted(delete)


def _fields(change: Any) -> list[str]:
    return sorted({fd.path.split(".", 1)[0] for fd in change.field_diffs})


def build_alert_actions(b: Any, params: Any) -> None:
    """Add the actions of every notification/backup change to builder `b`
    (`provision.plan.order._Builder`); `params(model, values)` makes typed params."""
    members = b.membership_ids()
    want = b.desired.notifications
    targets = {t.name: t for t in want.targets} if want else {}
    matchers = {m.name: m for m in want.matchers} if want else {}
    # matchers leave first: PVE refuses to delete a target a matcher names
    matcher_removals = [
        b.add(Kind.NOTIFY_MATCHER_REMOVE, ch.address, Verb.REMOVE, Phase.DESTROY_STORAGE,
              params(P.NotifyMatcherRemove, {"name": str(ch.address.segments[1][1])}), reason=ch.reason)
        for ch in b.changed("notifications", "matcher") if ch.action == "delete"]
    target_ids = []
    for ch in b.changed("notifications", "target"):
        name = str(ch.address.segments[1][1])
        remove_id = None
        if ch.action in ("delete", "replace"):
            old_type = (ch.before or {}).get("type", "sendmail")
            remove_id = b.add(Kind.NOTIFY_TARGET_REMOVE, ch.address, Verb.REMOVE,
                              Phase.STORAGE if ch.action == "replace" else Phase.DESTROY_STORAGE,
                              params(P.NotifyTargetRemove, {"name": name, "type": old_type}), reason=ch.reason,
                              depends_on=matcher_removals if ch.action == "delete" else [])
        target = targets.get(name)
        if target is None or ch.action == "delete":
            continue
        deps = [*members, *b.planned(remove_id)]
        if ch.action in ("create", "replace"):
            opts, secrets, _ = options(target)
            target_ids.append(b.add(Kind.NOTIFY_TARGET_ADD, ch.address, Verb.ADD, Phase.STORAGE,
                                    params(P.NotifyTargetAdd, {"name": name, "type": target.type, "options": opts,
                                                               "secrets": secrets}), depends_on=deps))
        else:
            opts, secrets, delete = options(target, _fields(ch))
            target_ids.append(b.add(Kind.NOTIFY_TARGET_SET, ch.address, Verb.SET, Phase.STORAGE,
                                    params(P.NotifyTargetSet, {"name": name, "type": target.type, "options": opts,
                                                               "secrets": secrets, "delete": delete}),
                                    depends_on=deps))
    for ch in b.changed("notifications", "matcher"):
        name = str(ch.address.segments[1][1])
        if ch.action == "delete":
            continue
        matcher = matchers[name]
        if ch.action == "create":
            opts, _, _ = options(matcher)
            b.add(Kind.NOTIFY_MATCHER_ADD, ch.address, Verb.ADD, Phase.STORAGE,
                  params(P.NotifyMatcherAdd, {"name": name, "options": opts}), depends_on=[*members, *target_ids])
        else:
            opts, _, delete = options(matcher, _fields(ch))
            b.add(Kind.NOTIFY_MATCHER_SET, ch.address, Verb.SET, Phase.STORAGE,
                  params(P.NotifyMatcherSet, {"name": name, "options": opts, "delete": delete}),
                  depends_on=[*members, *target_ids])
    jobs = {j.id: j for j in b.desired.backups.jobs} if b.desired.backups else {}
    for ch in b.changed("backups", "job"):
        jid = str(ch.address.segments[1][1])
        if ch.action == "delete":
            b.add(Kind.BACKUP_JOB_REMOVE, ch.address, Verb.REMOVE, Phase.DESTROY_STORAGE,
                  params(P.BackupJobRemove, {"id": jid}),
                  reason="the job only: backups it made stay on their storage")
            continue
        job: BackupJob = jobs[jid]
        storage = b.planned(*[a.id for a in b.actions.values() if str(a.address) == f'storage["{job.storage}"]'
                              and a.kind in (Kind.STORAGE_ADD, Kind.STORAGE_SET)])
        if ch.action == "create":
            opts, _, _ = options(job)
            b.add(Kind.BACKUP_JOB_ADD, ch.address, Verb.ADD, Phase.STORAGE,
                  params(P.BackupJobAdd, {"id": jid, "options": opts}), depends_on=[*members, *storage])
        else:
            opts, _, delete = options(job, _selection_fields(job, _fields(ch)))
            b.add(Kind.BACKUP_JOB_SET, ch.address, Verb.SET, Phase.STORAGE,
                  params(P.BackupJobSet, {"id": jid, "options": opts, "delete": delete}),
                  depends_on=[*members, *storage])


def _selection_fields(job: BackupJob, fields: list[str]) -> list[str]:
    """PVE's update keeps one selection: sending `vmid` drops all/exclude/pool, `all=1`
    drops vmid/pool, a pool drops the rest (pve-manager PVE/API2/Backup.pm update_job). So
    a changed selection is sent as the whole new selection, never as `--delete` of the old."""
    selection = {"all", "vmids", "pool", "exclude"}
    if not selection & set(fields):
        return fields
    keep = {"all"} if job.all else {"vmids"} if job.vmids else {"pool"}
    if job.all and job.exclude:
        keep.add("exclude")
    extra = {"exclude"} if job.all and not job.exclude else set()
    return sorted((set(fields) - selection) | keep | extra)
