"""Backups and alerts: every HA guest in some backup job, every PBS storage used by one,
fencing notifications routed somewhere (the seed article's "integration with Proxmox
Backup Server" and "monitoring with email alerts").

These rules judge what the stack declares: with `backups:` or `notifications:` left out
the cluster's jobs and matchers are not managed, so nothing is known about them and the
rules stay silent.
"""

from __future__ import annotations

from collections.abc import Iterator

from provision.rules.registry import Hit, rule
from provision.spec import Cluster
from provision.spec.notifications import BUILTIN_MATCHERS


def _vmid(sid: str) -> int:
    return int(sid.split(":", 1)[1])


@rule("PVE-B001", "warning", "HA guests without a backup job")
def ha_guests_without_backup(c: Cluster) -> Iterator[Hit]:
    """HA restarts a guest on another node; it does not bring back a guest whose disk
    was deleted, encrypted or corrupted. A guest that no enabled backup job selects
    (all guests minus `exclude`, or a VMID list) has no copy to restore. Jobs that
    select a pool are counted as covering: the stack does not say which guests a pool
    holds.

    Fix: add the guest to a backup job (`backups.jobs[].vmids`), use `all: true`, or
    drop it from `exclude`.
    """
    if c.backups is None:
        return
    jobs = [j for j in c.backups.jobs if j.enabled]
    if any(j.pool is not None for j in jobs):
        return
    for i, res in enumerate(c.ha.resources):
        if res.state == "ignored":
            continue
        vmid = _vmid(res.sid)
        if not any(j.covers(vmid, {}) for j in jobs):
            yield Hit(("ha", "resources", i, "sid"), f"HA guest {res.sid} is in no enabled backup job",
                      "add it to a job's vmids, or back up all guests")


@rule("PVE-B002", "warning", "PBS storage without a backup job")
def pbs_without_job(c: Cluster) -> Iterator[Hit]:
    """A Proxmox Backup Server storage that no backup job writes to backs nothing up:
    adding the storage is half the work.

    Fix: add a job under `backups.jobs` with `storage:` naming it.
    """
    if c.backups is None:
        return
    used = {j.storage for j in c.backups.jobs if j.enabled}
    for i, st in enumerate(c.storage):
        if st.type == "pbs" and not st.disable and st.name not in used:
            yield Hit(("storage", i, "name"), f"PBS storage {st.name} is used by no enabled backup job",
                      f"add a backup job with storage: {st.name}")


@rule("PVE-B003", "warning", "Fencing notifications reach nobody")
def fencing_not_routed(c: Cluster) -> Iterator[Hit]:
    """When HA fences a node, PVE sends a notification of type `fencing`; only a matcher
    routes it to a target. If no enabled matcher with a target can match it, the first
    sign of a fenced node is a user's complaint. PVE's built-in `default-matcher` routes
    everything to `mail-to-root`; it counts unless the stack redefines it.

    Fix: add a matcher with `match_field: ["exact:type=fencing"]` and a target, or keep
    the built-in default-matcher enabled.
    """
    notes = c.notifications
    if notes is None:
        return
    named = {m.name for m in notes.matchers}
    if BUILTIN_MATCHERS - named:
        return  # the built-in one routes every notification
    if not any(m.routes_type("fencing") for m in notes.matchers):
        yield Hit(("notifications", "matchers"), "no enabled matcher routes fencing notifications to a target",
                  'add a matcher with match_field: ["exact:type=fencing"] and a target')
