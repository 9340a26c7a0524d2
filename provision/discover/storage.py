"""`/storage` -> storage models.

Each item is the storage.cfg section plus `storage`, `type`, `digest`, `shared`.
Keys keep their file spelling (`fs-name`, `prune-backups`, `data-pool`) and are
mapped to the spec's snake_case here. Secrets (PBS password, keyrings, CephFS
secrets, encryption keys) are never returned by the API; the observed model
holds None for them and diff never compares them.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from provision.discover._values import as_bool, split_list
from provision.spec.storage import (
    CephFsStorage,
    DirStorage,
    IscsiStorage,
    LvmThinStorage,
    NfsStorage,
    PbsStorage,
    RbdStorage,
    ZfsPoolStorage,
)

AnyStorage = (
    RbdStorage | CephFsStorage | NfsStorage | IscsiStorage | PbsStorage | DirStorage | LvmThinStorage | ZfsPoolStorage
)

# Secret fields are never returned by the API; observed models carry None for them.
# A placeholder only used to satisfy validation before the field is set to None.
_UNREADABLE = {"env": "PVE_PROVISION_SECRET_NOT_READABLE"}


def _content(item: dict[str, Any]) -> list[str]:
    value = item.get("content")
    if value in (None, "", "none"):
        return []
    return split_list(value, ",")


def normalise_storage(item: dict[str, Any]) -> AnyStorage | None:
    """One `/storage` item -> model, or None for types the spec does not model."""
    kind = item.get("type")
    base: dict[str, Any] = {
        "name": item.get("storage"),
        "type": kind,
        "content": _content(item),
        "nodes": split_list(item.get("nodes"), ",") or None,  # absent = all nodes
        "disable": as_bool(item.get("disable")),
    }
    if kind == "rbd":
        return RbdStorage.model_validate({
            **base, "pool": item.get("pool") or "rbd",  # PVE's rbd default pool name
            "krbd": as_bool(item.get("krbd")), "monhost": split_list(item.get("monhost")) or None,
            "username": item.get("username") or None, "data_pool": item.get("data-pool") or None,
            "namespace": item.get("namespace") or None,
        })
    if kind == "cephfs":
        return CephFsStorage.model_validate({
            **base, "fs_name": item.get("fs-name") or "cephfs",  # default file system name
            "path": item.get("path") or None, "monhost": split_list(item.get("monhost")) or None,
            "username": item.get("username") or None,
        })
    if kind == "nfs":
        return NfsStorage.model_validate({
            **base, "server": item.get("server"), "export": item.get("export"),
            "path": item.get("path") or None, "options": item.get("options") or None,
        })
    if kind == "iscsi":
        return IscsiStorage.model_validate({**base, "portal": item.get("portal"), "target": item.get("target")})
    if kind == "pbs":
        model = PbsStorage.model_validate({
            **base, "server": item.get("server"), "datastore": item.get("datastore"),
            "username": item.get("username"), "password": _UNREADABLE,
            "fingerprint": item.get("fingerprint") or None, "namespace": item.get("namespace") or None,
            "prune_backups": item.get("prune-backups") or None,
        })
        return model.model_copy(update={"password": None})
    if kind == "dir":
        return DirStorage.model_validate({**base, "path": item.get("path"), "is_shared": as_bool(item.get("shared"))})
    if kind == "lvmthin":
        return LvmThinStorage.model_validate({**base, "vgname": item.get("vgname"), "thinpool": item.get("thinpool")})
    if kind == "zfspool":
        return ZfsPoolStorage.model_validate({**base, "pool": item.get("pool"), "sparse": as_bool(item.get("sparse"))})
    return None


def normalise_storages(data: list[dict[str, Any]]) -> tuple[list[AnyStorage], list[str]]:
    out: list[AnyStorage] = []
    notes: list[str] = []
    for item in data:
        try:
            model = normalise_storage(item)
        except ValidationError as exc:
            notes.append(f'storage["{item.get("storage")}"]: not modelled ({exc.errors()[0]["msg"]})')
            continue
        if model is None:
            notes.append(f'storage["{item.get("storage")}"]: type {item.get("type")} is not managed by pve-provision')
            continue
        out.append(model)
    return sorted(out, key=lambda s: s.name), notes
