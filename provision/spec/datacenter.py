"""Cluster-wide options of datacenter.cfg that an HA cluster depends on.

PVE keeps them in `/etc/pve/datacenter.cfg` and serves them at `/cluster/options`
(pve-cluster `src/PVE/DataCenterConfig.pm`). Every field here is optional and `None`
means *not managed*: the cluster keeps whatever it has, so a stack written before these
keys existed plans exactly as before. A field that is set is compared against the
cluster's value, where an option datacenter.cfg leaves out counts as PVE's default.

The HA policy keys (`shutdown_policy`, the CRS rebalancing options) live under `ha:`
(`provision.spec.hapolicy`), next to `ha.crs`, because they steer the HA manager.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from provision.spec.base import Int, IPv4Network, SpecModel, Text, described

# pve-common `src/PVE/ParseUtils.pm` (9) / `src/PVE/Tools.pm` (8) EMAIL_RE, anchored.
EMAIL = described(r"^[\w+\-~]+(\.[\w+\-~]+)*@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*$",
                  "an email address like pve@example.com")


class Migration(SpecModel):
    """`migration: type=secure|insecure,network=CIDR`: how and where guests migrate."""

    type: Literal["secure", "insecure"] | None = Field(
        default=None,
        description="secure: through an SSH tunnel (PVE's default); insecure: plain TCP, only on a "
        "dedicated, trusted network.",
    )
    network: IPv4Network | None = Field(
        default=None,
        description="The network migration (and, unless set apart, replication) traffic uses, e.g. "
        "10.40.40.0/24; every node needs an address in it.",
    )


class Bwlimit(SpecModel):
    """`bwlimit:` I/O bandwidth limits in KiB/s (pve-common `JSONSchema.pm` bwlimit format)."""

    default: Int | None = Field(default=None, ge=0, description="Default limit in KiB/s.")
    migration: Int | None = Field(default=None, ge=0, description="Migrating guests (and their local disks), "
                                                                  "KiB/s.")
    restore: Int | None = Field(default=None, ge=0, description="Restoring guests from backups, KiB/s.")
    clone: Int | None = Field(default=None, ge=0, description="Cloning disks, KiB/s.")
    move: Int | None = Field(default=None, ge=0, description="Moving disks, KiB/s.")


class NextId(SpecModel):
    """`next-id: lower=,upper=`: the range the API picks free VMIDs from."""

    lower: Int = Field(default=100, ge=100, le=999_999_999, description="Lowest VMID handed out (inclusive).")
    upper: Int = Field(default=1_000_000, ge=100, le=1_000_000_000,
                       description="Upper bound (exclusive).")

    @model_validator(mode="after")
    def _ordered(self) -> NextId:
        # DataCenterConfig.pm write_datacenter_config: "lower (...) <= upper (...) boundary rule broken"
        if self.lower > self.upper:
            raise ValueError(f"lower ({self.lower}) must not be above upper ({self.upper})")
        return self


class Datacenter(SpecModel):
    """datacenter.cfg options; each one left out is left alone."""

    migration: Migration | None = Field(default=None, description="Migration type and network.")
    email_from: Text | None = Field(
        default=None, pattern=EMAIL,
        description="Sender address of the cluster's mails (PVE's default: root@<node>).",
    )
    max_workers: Int | None = Field(
        default=None, ge=1, le=2**31 - 1,
        description="Parallel workers per node for bulk actions and for the HA manager's migrations.",
    )
    bwlimit: Bwlimit | None = Field(default=None, description="Bandwidth limits in KiB/s.")
    next_id: NextId | None = Field(default=None, description="VMID range for new guests (`next-id`).")

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in type(self).model_fields)
