"""Storage definitions (`/etc/pve/storage.cfg`), discriminated by `type`.

Only the keys pve-provision manages are modelled; field names use snake_case and
map to storage.cfg keys (`fs_name` ↔ `fs-name`) in discovery and apply.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, field_validator

from provision.spec.base import CONFIG_ID, SpecModel, Text, check_node_names
from provision.spec.secrets import SecretRef

Content = Literal["images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"]

# Storage types whose content every node sees: these can back HA guests.
SHARED_TYPES = frozenset({"rbd", "cephfs", "nfs", "iscsi", "pbs"})


class _Storage(SpecModel):
    name: Text = Field(pattern=CONFIG_ID, description="Storage id.")
    content: list[Content] = Field(default_factory=list, description="Content types stored here.")
    nodes: list[Text] | None = Field(
        default=None, description="Restrict the storage to these nodes; all nodes if unset."
    )
    disable: bool = Field(default=False, description="Disable the storage.")

    @field_validator("content")
    @classmethod
    def _sorted_unique(cls, value: list[Content]) -> list[Content]:
        # Order is not meaningful in storage.cfg; sort so that specs compare equal.
        return sorted(set(value))

    @field_validator("nodes")
    @classmethod
    def _node_names(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        check_node_names(value)
        return sorted(set(value))

    @property
    def shared(self) -> bool:
        """The same storage on every node (what HA and migration need)."""
        return self.type in SHARED_TYPES  # type: ignore[attr-defined]


class RbdStorage(_Storage):
    """Ceph RBD block storage; hyper-converged when `monhost` is unset."""

    type: Literal["rbd"] = Field(description="Storage type.")
    pool: Text = Field(description="RADOS pool.")
    krbd: bool = Field(default=False, description="Use the kernel RBD client.")
    monhost: list[Text] | None = Field(default=None, description="External Ceph monitors.")
    username: Text | None = Field(default=None, description="Ceph user for an external cluster.")
    keyring: SecretRef | None = Field(default=None, description="Keyring of an external cluster.")
    data_pool: Text | None = Field(default=None, description="Separate data pool (erasure coded).")
    namespace: Text | None = Field(default=None, description="RADOS namespace.")


class CephFsStorage(_Storage):
    """A CephFS mount for files (ISO, templates, backups)."""

    type: Literal["cephfs"] = Field(description="Storage type.")
    fs_name: Text = Field(default="cephfs", description="CephFS file system name.")
    path: Text | None = Field(default=None, description="Mount point; /mnt/pve/<name> if unset.")
    monhost: list[Text] | None = Field(default=None, description="External Ceph monitors.")
    username: Text | None = Field(default=None, description="Ceph user for an external cluster.")
    secret: SecretRef | None = Field(default=None, description="Ceph secret of an external cluster.")


class NfsStorage(_Storage):
    """An NFS export."""

    type: Literal["nfs"] = Field(description="Storage type.")
    server: Text = Field(description="NFS server address.")
    export: Text = Field(pattern=r"^/", description="Exported path.")
    path: Text | None = Field(default=None, description="Mount point; /mnt/pve/<name> if unset.")
    options: Text | None = Field(default=None, description="Mount options, e.g. vers=4.2.")


class IscsiStorage(_Storage):
    """An iSCSI target (usually with LVM on top)."""

    type: Literal["iscsi"] = Field(description="Storage type.")
    portal: Text = Field(description="iSCSI portal (address[:port]).")
    target: Text = Field(pattern=r"^iqn\.", description="Target IQN.")


class PbsStorage(_Storage):
    """A Proxmox Backup Server datastore."""

    type: Literal["pbs"] = Field(description="Storage type.")
    server: Text = Field(description="PBS host.")
    datastore: Text = Field(description="Datastore name on the server.")
    username: Text = Field(pattern=r"^\S+@\S+$", description="PBS user, e.g. backup@pbs.")
    password: SecretRef = Field(description="PBS password or API token secret (a reference).")
    fingerprint: Text | None = Field(
        default=None,
        pattern=r"^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$",
        description="PBS certificate fingerprint (needed for self-signed certificates).",
    )
    namespace: Text | None = Field(default=None, description="PBS namespace.")
    encryption_key: SecretRef | None = Field(default=None, description="Client-side encryption key.")
    prune_backups: Text | None = Field(default=None, description="Retention, e.g. keep-daily=7,keep-weekly=4.")

    @field_validator("content")
    @classmethod
    def _backup_only(cls, value: list[Content]) -> list[Content]:
        if any(c != "backup" for c in value):
            raise ValueError("a PBS storage only holds content 'backup'")
        return value


class DirStorage(_Storage):
    """A local (or shared-mounted) directory."""

    type: Literal["dir"] = Field(description="Storage type.")
    path: Text = Field(pattern=r"^/", description="Directory.")
    is_shared: bool = Field(default=False, description="The directory is the same on every node.")

    @property
    def shared(self) -> bool:
        return self.is_shared


class LvmThinStorage(_Storage):
    """A local LVM thin pool."""

    type: Literal["lvmthin"] = Field(description="Storage type.")
    vgname: Text = Field(description="Volume group.")
    thinpool: Text = Field(description="Thin pool LV.")


class ZfsPoolStorage(_Storage):
    """A local ZFS pool/dataset."""

    type: Literal["zfspool"] = Field(description="Storage type.")
    pool: Text = Field(description="ZFS pool or dataset.")
    sparse: bool = Field(default=False, description="Thin-provision zvols.")


Storage = Annotated[
    RbdStorage
    | CephFsStorage
    | NfsStorage
    | IscsiStorage
    | PbsStorage
    | DirStorage
    | LvmThinStorage
    | ZfsPoolStorage,
    Field(discriminator="type"),
]

__all__ = [
    "SHARED_TYPES",
    "CephFsStorage",
    "Content",
    "DirStorage",
    "IscsiStorage",
    "LvmThinStorage",
    "NfsStorage",
    "PbsStorage",
    "RbdStorage",
    "Storage",
    "ZfsPoolStorage",
    "ipaddress",
]
