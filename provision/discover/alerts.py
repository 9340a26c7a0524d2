"""`/cluster/notifications/...` and `/cluster/backup` -> notification and backup models.

Targets come one endpoint per type (`endpoints/sendmail`, `smtp`, `gotify`), matchers
from `matchers`, backup jobs from `/cluster/backup`. Secrets (SMTP password, Gotify
token) are never returned by PVE: the observed models hold None for them and diff never
compares them, as with storage passwords. An answer that is missing (PVE before 8.1 has
no notification endpoints) gives None: "not known", never "nothing configured".
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from pydantic import ValidationError

from provision.discover._values import as_bool, as_int
from provision.discover.datacenter import property_string
from provision.spec.backups import BackupJob, Backups, Retention
from provision.spec.notifications import GotifyTarget, Matcher, Notifications, SendmailTarget, SmtpTarget, WebhookTarget

_UNREADABLE = {"env": "PVE_PROVISION_SECRET_NOT_READABLE"}
TARGET_TYPES = ("sendmail", "smtp", "gotify", "webhook")
# PVE before 8.3 has no webhook endpoint: an unanswered read there means "none", not "unknown"
_SINCE_8_3 = frozenset({"webhook"})


def _items(value: Any) -> list[str]:
    """An array field: a JSON list, or a comma-separated text (older answers)."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [p.strip() for p in str(value).split(",") if p.strip()]


def unbase64(text: str) -> str:
    """A webhook header value or body as PVE stores it (base64 of UTF-8) -> the text;
    text that is not base64 stays as it is (the diff then shows it)."""
    try:
        return base64.b64decode(text.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return text


def _webhook(base: dict[str, Any], item: dict[str, Any]) -> WebhookTarget:
    """`header`/`secret` are arrays of property strings `name=<n>,value=<base64>`; the API
    answers secrets by name only (proxmox-notify `api/webhook.rs` get_endpoint)."""
    headers = {p.get("name", ""): unbase64(str(p.get("value", ""))) for p in map(property_string, _items(
        item.get("header")))}
    names = [str(property_string(p).get("name", "")) for p in _items(item.get("secret"))]
    body = item.get("body")
    # the names are all PVE tells; the references stand for "a value PVE holds" and are
    # never read (diff compares the names only, import writes references of its own)
    return WebhookTarget.model_validate({
        **base, "url": item.get("url"), "method": item.get("method") or "post", "headers": headers,
        "body": unbase64(str(body)) if body else None, "secrets": {n: _UNREADABLE for n in names if n}})


def _target(kind: str, item: dict[str, Any]) -> SendmailTarget | SmtpTarget | GotifyTarget | WebhookTarget:
    base: dict[str, Any] = {"type": kind, "name": item.get("name"), "comment": item.get("comment") or None,
                            "disable": as_bool(item.get("disable"))}
    if kind == "webhook":
        return _webhook(base, item)
    if kind == "gotify":
        model = GotifyTarget.model_validate({**base, "server": item.get("server"), "token": _UNREADABLE})
        return model.model_copy(update={"token": None})
    mail = {**base, "mailto": _items(item.get("mailto")), "mailto_user": _items(item.get("mailto-user")),
            "author": item.get("author") or None}
    if kind == "sendmail":
        return SendmailTarget.model_validate({**mail, "from_address": item.get("from-address") or None})
    return SmtpTarget.model_validate({
        **mail, "server": item.get("server"), "port": as_int(item.get("port")), "mode": item.get("mode") or "tls",
        "username": item.get("username") or None, "from_address": item.get("from-address"),
    })


def _matcher(item: dict[str, Any]) -> Matcher:
    severities = [s for v in _items(item.get("match-severity")) for s in v.split(",") if s]
    return Matcher.model_validate({
        "name": item.get("name"), "match_field": _match_fields(item.get("match-field")),
        "match_severity": severities, "match_calendar": _items(item.get("match-calendar")),
        "mode": item.get("mode") or "all", "invert_match": as_bool(item.get("invert-match")),
        "target": _items(item.get("target")), "comment": item.get("comment") or None,
        "disable": as_bool(item.get("disable")),
    })


def _match_fields(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if not value:
        return []
    return [p for p in re.split(r",(?=(?:exact|regex):)", str(value)) if p]


def normalise_notifications(answers: dict[str, Any]) -> tuple[Notifications | None, list[str]]:
    """`answers`: type -> list of endpoint items, plus `matchers`. None when PVE has no
    notification API (any of them unanswered)."""
    if any(answers.get(k) is None for k in (*TARGET_TYPES, "matchers") if k not in _SINCE_8_3):
        return None, []
    notes: list[str] = []
    targets: list[Any] = []
    for kind in TARGET_TYPES:
        for item in answers.get(kind) or []:
            try:
                targets.append(_target(kind, item))
            except ValidationError as exc:
                notes.append(f'notifications.target["{item.get("name")}"]: not modelled ({exc.errors()[0]["msg"]})')
    matchers: list[Matcher] = []
    for item in answers["matchers"]:
        try:
            matchers.append(_matcher(item))
        except ValidationError as exc:
            notes.append(f'notifications.matcher["{item.get("name")}"]: not modelled ({exc.errors()[0]["msg"]})')
    return Notifications.model_construct(targets=sorted(targets, key=lambda t: t.name),
                                         matchers=sorted(matchers, key=lambda m: m.name)), notes


def _vmids(value: Any) -> list[int]:
    return [int(v) for v in re.split(r"[,;\s]+", str(value or "")) if v.strip().isdigit()]


def _retention(value: Any) -> Retention | None:
    if not value:
        return None
    if isinstance(value, dict):
        value = ",".join(f"{k}={v}" for k, v in value.items())
    return Retention.parse(str(value))


def normalise_backups(items: Any) -> tuple[Backups | None, list[str]]:
    """`/cluster/backup` -> jobs; legacy vzdump.cron entries (no schedule) are noted, not modelled."""
    if items is None:
        return None, []
    jobs: list[BackupJob] = []
    notes: list[str] = []
    for item in items:
        jid = item.get("id")
        try:
            jobs.append(BackupJob.model_validate({
                "id": jid, "schedule": item.get("schedule"), "storage": item.get("storage") or "local",
                "all": as_bool(item.get("all")), "vmids": _vmids(item.get("vmid")), "pool": item.get("pool") or None,
                "exclude": _vmids(item.get("exclude")), "mode": item.get("mode") or "snapshot",
                "retention": _retention(item.get("prune-backups")),
                "notification_mode": item.get("notification-mode") or "auto",
                "enabled": as_bool(item.get("enabled"), default=True), "comment": item.get("comment") or None,
            }))
        except (ValidationError, ValueError) as exc:
            why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            notes.append(f'backups.job["{jid}"]: not modelled ({why})')
    return Backups.model_construct(jobs=sorted(jobs, key=lambda j: j.id)), notes


# key -> (path, params, optional): read with the other cluster-wide endpoints
ALERT_ENDPOINTS: dict[str, tuple[str, dict[str, Any], bool]] = {
    **{f"notify_{k}": (f"/cluster/notifications/endpoints/{k}", {}, True) for k in TARGET_TYPES},
    "notify_matchers": ("/cluster/notifications/matchers", {}, True),
    "backup_jobs": ("/cluster/backup", {}, True),
}


def normalise_alerts(answers: dict[str, Any]) -> tuple[Notifications | None, Backups | None, list[str]]:
    """The cluster-wide answers (keys of ALERT_ENDPOINTS) -> both models and notes."""
    notifications, notes = normalise_notifications(
        {k: answers.get(f"notify_{k}") for k in (*TARGET_TYPES, "matchers")})
    backups, more = normalise_backups(answers.get("backup_jobs"))
    return notifications, backups, notes + more
