"""Backup jobs (`/cluster/backup`, `vzdump:` sections of `/etc/pve/jobs.cfg`).

A job selects guests (all of them, a VMID list or a pool, minus `exclude`), writes to a
storage with content `backup` (typically PBS) on a calendar schedule, and keeps what its
retention says. Job ids are chosen by the stack: PVE would generate a UUID-like id,
which a declarative stack cannot name again.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from provision.spec.base import CONFIG_ID, Int, SpecModel, Text

RETENTION_KEYS = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")


class Retention(SpecModel):
    """PVE's `prune-backups` property string (pve-common `PVE/JSONSchema.pm` prune-backups format)."""

    keep_all: bool = Field(default=False, description="Keep every backup (other keep-* options must be unset).")
    keep_last: Int | None = Field(default=None, ge=1, description="Keep the last N backups.")
    keep_hourly: Int | None = Field(default=None, ge=1, description="Keep backups of the last N hours.")
    keep_daily: Int | None = Field(default=None, ge=1, description="Keep backups of the last N days.")
    keep_weekly: Int | None = Field(default=None, ge=1, description="Keep backups of the last N weeks.")
    keep_monthly: Int | None = Field(default=None, ge=1, description="Keep backups of the last N months.")
    keep_yearly: Int | None = Field(default=None, ge=1, description="Keep backups of the last N years.")

    @model_validator(mode="after")
    def _all_alone(self) -> Retention:
        if self.keep_all and any(getattr(self, k) is not None for k in RETENTION_KEYS):
            raise ValueError("keep_all cannot be combined with other keep options")
        if not self.keep_all and all(getattr(self, k) is None for k in RETENTION_KEYS):
            raise ValueError("a retention needs keep_all or at least one keep option")
        return self

    def pve_text(self) -> str:
        """`keep-daily=7,keep-weekly=4` in PVE's key order."""
        if self.keep_all:
            return "keep-all=1"
        return ",".join(f"{k.replace('_', '-')}={getattr(self, k)}" for k in RETENTION_KEYS
                        if getattr(self, k) is not None)

    @classmethod
    def parse(cls, text: str) -> Retention:
        """The inverse of `pve_text` (unknown keys are an error)."""
        values: dict[str, object] = {}
        for part in text.split(","):
            if not part.strip():
                continue
            key, _, value = part.strip().partition("=")
            values[key.replace("-", "_")] = value == "1" if key == "keep-all" else int(value)
        return cls.model_validate(values)


class BackupJob(SpecModel):
    """One scheduled vzdump job."""

    id: Text = Field(pattern=CONFIG_ID, description="Job id (jobs.cfg section id).")
    schedule: Text = Field(description="systemd-like calendar event, e.g. 'daily', 'sat 02:00', '*-*-* 21:30'.")
    storage: Text = Field(pattern=CONFIG_ID, description="Target storage; must hold content 'backup'.")
    all: bool = Field(default=False, description="Back up every guest of the cluster (minus exclude).")
    vmids: list[Int] = Field(default_factory=list, description="Back up these guests.")
    pool: Text | None = Field(default=None, description="Back up the guests of this pool.")
    exclude: list[Int] = Field(default_factory=list, description="Guests left out of `all`.")
    mode: Literal["snapshot", "suspend", "stop"] = Field(default="snapshot", description="Backup mode.")
    retention: Retention | None = Field(default=None, description="Retention of this job (prune-backups); the "
                                        "storage's retention applies when unset.")
    notification_mode: Literal["auto", "legacy-sendmail", "notification-system"] = Field(
        default="auto", description="How vzdump notifies: through notification targets and matchers "
        "(notification-system), legacy mailto (legacy-sendmail) or auto.")
    enabled: bool = Field(default=True, description="Run on schedule.")
    comment: Text | None = Field(default=None, description="Free text.")

    @field_validator("vmids", "exclude")
    @classmethod
    def _vmids(cls, value: list[int]) -> list[int]:
        for vmid in value:
            if not 100 <= vmid <= 999999999:
                raise ValueError(f"vmid {vmid} is outside 100..999999999")
        return sorted(set(value))

    @model_validator(mode="after")
    def _selection(self) -> BackupJob:
        chosen = [name for name, on in (("all", self.all), ("vmids", bool(self.vmids)),
                                        ("pool", self.pool is not None)) if on]
        if len(chosen) != 1:
            raise ValueError("a backup job selects guests with exactly one of all, vmids or pool"
                             + (f" (it has {', '.join(chosen)})" if chosen else ""))
        if self.exclude and not self.all:
            # PVE keeps `exclude` beside `pool` at creation but drops it on every update
            # (pve-manager PVE/API2/Backup.pm update_job), so only `all` can hold it.
            raise ValueError("exclude goes with all only")
        return self

    def covers(self, vmid: int, pools: dict[str, set[int]]) -> bool:
        """Whether this job backs up guest `vmid` (`pools`: pool name -> its vmids)."""
        if vmid in self.exclude:
            return False
        if self.all:
            return True
        if self.pool is not None:
            return vmid in pools.get(self.pool, set())
        return vmid in self.vmids


class Backups(SpecModel):
    """Backup jobs (`/etc/pve/jobs.cfg`)."""

    jobs: list[BackupJob] = Field(default_factory=list, description="Scheduled backup jobs.")

    @model_validator(mode="after")
    def _unique(self) -> Backups:
        ids = [j.id for j in self.jobs]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"backup job ids must be unique: {', '.join(dup)}")
        return self


__all__ = ["RETENTION_KEYS", "BackupJob", "Backups", "Retention"]
