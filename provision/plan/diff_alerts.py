"""The diff of notification targets, matchers and backup jobs.

`notifications:` / `backups:` left out of a stack leave the cluster's alone (no changes,
no unmanaged reports). When present, what the stack names is managed and the rest is
unmanaged (deleted only with --prune), except PVE's built-in target `mail-to-root` and
matcher `default-matcher`: they exist on every PVE and come back when deleted, so they
are compared only when the stack names them, and never reported or pruned otherwise.
Secrets (SMTP password, Gotify token) are never compared: PVE does not return them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from provision.plan.diff import Change, view
from provision.spec.addresses import Address
from provision.spec.cluster import Cluster
from provision.spec.notifications import BUILTIN_MATCHERS, BUILTIN_TARGETS, WebhookTarget


class _Differ(Protocol):
    desired: Cluster
    observed: Cluster
    facts: Any
    errors: list[str]

    def add(self, change: Change) -> None: ...

    def collection(self, address: Callable[[str], Address], desired: Mapping[str, Any],
                   observed: Mapping[str, Any], to_view: Callable[[Any], dict[str, Any]], what: str, *,
                   auto: Iterable[str] = ..., ignore: Iterable[str] = ..., replace_on: Iterable[str] = ...,
                   cannot_change: Mapping[str, str] | None = ..., destructive: Callable[[Any], bool] = ...,
                   prunable: bool = ...) -> None: ...


def target_addr(name: str) -> Address:
    return Address.of(("notifications", None), ("target", name))


def matcher_addr(name: str) -> Address:
    return Address.of(("notifications", None), ("matcher", name))


def job_addr(jid: str) -> Address:
    return Address.of(("backups", None), ("job", jid))


def job_view(job: Any) -> dict[str, Any]:
    out = view(job, exclude=("id",))
    out["retention"] = job.retention.pve_text() if job.retention is not None else None
    return out


def target_view(target: Any) -> dict[str, Any]:
    """A target's fields; a webhook's secrets by name only (PVE returns the names, never
    the values, so a secret added or dropped is a change and a new value is not)."""
    out = view(target, exclude=("name",))
    if isinstance(target, WebhookTarget):
        out["secrets"] = sorted(target.secrets)
    return out


WEBHOOK_SINCE = (8, 3)
"""pve-manager 8.3.0 (8.2.9 in testing) added `/cluster/notifications/endpoints/webhook`
(`PVE/API2/Cluster/Notifications.pm`, commit 9cc1dde4, changelog 8.2.9)."""


def _release(text: str | None) -> tuple[int, ...] | None:
    parts = (text or "").split("-", 1)[0].split(".")
    return tuple(int(p) for p in parts[:2]) if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]) else None


def _webhook_gate(d: _Differ, want: Any) -> None:
    """Refuse webhook targets on a cluster whose PVE predates them: the create would 404
    half-way through an apply."""
    release = getattr(d.facts, "pve_release", None) if d.facts is not None else None
    have = _release(release)
    hooks = sorted(t.name for t in want.targets if isinstance(t, WebhookTarget))
    if hooks and have is not None and have < WEBHOOK_SINCE:
        d.errors.append(f"notifications: webhook target(s) {', '.join(hooks)} need PVE 8.3 or later; the cluster "
                        f"runs {release}")


def diff_alerts(d: _Differ) -> None:
    want, have = d.desired.notifications, d.observed.notifications
    if want is not None:
        _webhook_gate(d, want)
        if have is None:
            d.add(Change(Address.of("notifications"), "noop-note", not_compared=True,
                         reason="notifications are not compared: the cluster did not answer "
                                "/cluster/notifications (PVE before 8.1?)"))
        else:
            named_t = {t.name for t in want.targets}
            named_m = {m.name for m in want.matchers}
            d.collection(target_addr, {t.name: t for t in want.targets},
                         {t.name: t for t in have.targets if t.name in named_t or t.name not in BUILTIN_TARGETS},
                         target_view, "notification target", replace_on={"type"})
            d.collection(matcher_addr, {m.name: m for m in want.matchers},
                         {m.name: m for m in have.matchers if m.name in named_m or m.name not in BUILTIN_MATCHERS},
                         lambda m: view(m, exclude=("name",)), "notification matcher")
    jobs, present = d.desired.backups, d.observed.backups
    if jobs is not None:
        if present is None:
            d.add(Change(Address.of("backups"), "noop-note", not_compared=True,
                         reason="backup jobs are not compared: /cluster/backup could not be read"))
        else:
            d.collection(job_addr, {j.id: j for j in jobs.jobs}, {j.id: j for j in present.jobs}, job_view,
                         "backup job")
