"""Cross-checks of notifications and backup jobs: references that must resolve inside
the stack (a matcher's targets, a job's storage and its content) and secrets that must
not be pve-provision's own. Errors, not advice: PVE itself refuses a matcher naming a
missing target; it accepts a job naming a missing storage and fails every night instead
(pve-manager `PVE/VZDump.pm` storage_info), which a stack can catch before apply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provision.spec.notifications import BUILTIN_TARGETS
from provision.spec.secrets import SecretRef

Loc = tuple[str | int, ...]
Add = Callable[[Loc, str, str | None], None]
Secret = Callable[[Loc, SecretRef, str, str], None]


def check_alerts_and_backups(cluster: Any, add: Add, secret: Secret) -> None:
    notes = cluster.notifications
    if notes is not None:
        known = {t.name for t in notes.targets} | set(BUILTIN_TARGETS)
        for mi, matcher in enumerate(notes.matchers):
            for ti, name in enumerate(matcher.target):
                if name not in known:
                    add(("notifications", "matchers", mi, "target", ti), f"matcher {matcher.name} names unknown "
                        f"target {name!r}", f"declared targets: {', '.join(sorted(known))}")
        for ti, target in enumerate(notes.targets):
            for field in ("password", "token"):
                ref = getattr(target, field, None)
                if isinstance(ref, SecretRef):
                    secret(("notifications", "targets", ti, field), ref, f"{target.name} {field}", "notification")
            for key, ref in sorted(getattr(target, "secrets", {}).items()):
                secret(("notifications", "targets", ti, "secrets", key), ref, f"{target.name} secret {key}",
                       "notification")
    if cluster.backups is not None:
        storages = {s.name: s for s in cluster.storage}
        for ji, job in enumerate(cluster.backups.jobs):
            st = storages.get(job.storage)
            if st is None and job.storage != "local":
                add(("backups", "jobs", ji, "storage"), f"backup job {job.id} names unknown storage {job.storage!r}",
                    f"declared storages: {', '.join(sorted(storages)) or 'none'}")
            elif st is not None and "backup" not in st.content:
                add(("backups", "jobs", ji, "storage"), f"backup job {job.id} writes to storage {job.storage}, "
                    "which does not hold content 'backup'", "add backup to its content")
