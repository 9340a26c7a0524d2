"""``/etc/pve/storage.cfg`` through ``/storage`` (pve-storage ``API2/Storage/Config.pm``).

Secrets (PBS/CIFS passwords, encryption keys, Ceph keyrings) never reach
storage.cfg: `storage_secrets` moves them to ``/etc/pve/priv/`` as pve-storage does.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from provision.lab.files import STORAGE, parse_sections, write_sections
from provision.lab.formats.sectionconfig import Section, storage_to_api
from provision.lab.ops import storage_secrets
from provision.lab.ops.common import require_quorum
from provision.lab.registry import ApiError, Ctx, p_enum, p_req, p_str, param_error, route

TYPES = ("btrfs", "cephfs", "cifs", "dir", "esxi", "iscsi", "iscsidirect", "lvm", "lvmthin", "nfs", "pbs", "rbd",
         "zfs", "zfspool")
COMMON = {"content", "nodes", "disable", "shared", "prune-backups", "max-protected-backups", "format", "preallocation",
          "mkdir", "create-base-path", "create-subdirs", "is_mountpoint", "bwlimit", "content-dirs"}
PER_TYPE: dict[str, set[str]] = {
    "dir": {"path"},
    "btrfs": {"path"},
    "nfs": {"server", "export", "path", "options"},
    "cifs": {"server", "share", "path", "username", "password", "domain", "smbversion", "subdir", "options"},
    "rbd": {"pool", "krbd", "monhost", "username", "data-pool", "namespace", "keyring"},
    "cephfs": {"path", "fs-name", "monhost", "username", "subdir", "fuse", "keyring", "options"},
    "lvm": {"vgname", "base", "saferemove", "tagged_only"},
    "lvmthin": {"vgname", "thinpool"},
    "zfspool": {"pool", "sparse", "blocksize", "mountpoint"},
    "zfs": {"pool", "portal", "target", "iscsiprovider", "blocksize", "sparse"},
    "iscsi": {"portal", "target"},
    "iscsidirect": {"portal", "target"},
    "pbs": {"server", "datastore", "username", "password", "fingerprint", "namespace", "port", "encryption-key"},
    "esxi": {"server", "username", "password", "skip-cert-verification"},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "dir": ("path",), "btrfs": ("path",), "nfs": ("server", "export"), "cifs": ("server", "share"),
    "lvm": ("vgname",), "lvmthin": ("vgname", "thinpool"), "zfspool": ("pool",), "pbs": ("server", "datastore"),
    "iscsi": ("portal", "target"), "iscsidirect": ("portal", "target"), "esxi": ("server",),
}
META = {"storage", "type", "delete", "digest"}


def read(ctx: Ctx) -> list[Section]:
    """storage.cfg as pve-storage's ``parse_config`` returns it.

    A missing ``local`` (or one that is not a dir at ``/var/lib/vz``) is replaced by PVE's
    built-in default and put first; ``local`` never has a ``nodes`` restriction.
    """
    sections = parse_sections(ctx.store.get_file(STORAGE), "storage")
    local = next((s for s in sections if s.id == "local"), None)
    if local is None or local.type != "dir" or local.props.get("path", "/var/lib/vz") != "/var/lib/vz":
        sections = [s for s in sections if s.id != "local"]
        local = Section("dir", "local", {"path": "/var/lib/vz", "content": "backup,images,iso,rootdir,snippets,vztmpl",
                                         "prune-backups": "keep-all=1"})
        sections.insert(0, local)
    local.props.setdefault("path", "/var/lib/vz")
    local.props.pop("nodes", None)
    return sections


def _api(s: Section, digest: str) -> dict[str, Any]:
    return {**storage_to_api(s), "digest": digest}


@route("GET", "/storage")
def index(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    kind = p_enum(params, "type", TYPES)
    digest = hashlib.sha1((ctx.store.get_file(STORAGE) or "").encode()).hexdigest()
    return [_api(s, digest) for s in read(ctx) if not kind or s.type == kind]


@route("GET", "/storage/{storage}")
def get(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    sid = p_req(params, "storage")
    digest = hashlib.sha1((ctx.store.get_file(STORAGE) or "").encode()).hexdigest()
    for s in read(ctx):
        if s.id == sid:
            return _api(s, digest)
    raise ApiError(500, f"storage '{sid}' does not exist")


def _apply(s: Section, params: dict[str, Any]) -> None:
    allowed = COMMON | PER_TYPE.get(s.type, set())
    for k, v in params.items():
        if k in META or v is None:
            continue
        if k not in allowed:
            raise param_error(k, "property is not defined in schema and the schema does not allow additional "
                              "properties")
        if k in ("disable", "shared", "krbd", "sparse"):
            v = "1" if str(v).lower() in ("1", "true", "yes", "on") else "0"
        s.props[k] = str(v)


@route("POST", "/storage")
def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    sid = p_req(params, "storage")
    if not re.fullmatch(r"[a-z][a-z0-9\-_.]*[a-z0-9]", sid, re.IGNORECASE):
        raise param_error("storage", f"invalid format - storage ID '{sid}' contains illegal characters")
    stype = p_enum(params, "type", TYPES)
    if stype is None:
        raise param_error("type", "property is missing and it is not optional")
    for key in REQUIRED.get(stype, ()):
        if p_str(params, key) is None:
            raise param_error(key, "property is missing and it is not optional")
    params = dict(params)
    hidden = storage_secrets.extract(stype, params, [])
    with ctx.store.tx():
        require_quorum(ctx)
        sections = read(ctx)
        if any(s.id == sid for s in sections):
            raise ApiError(500, f"create storage failed: storage ID '{sid}' already defined")
        s = Section(stype, sid)
        _apply(s, params)
        returned = storage_secrets.store(ctx, stype, sid, s.props, hidden, adding=True)
        if stype in ("nfs", "cifs", "cephfs") and "path" not in s.props:
            s.props["path"] = f"/mnt/pve/{sid}"
        if stype == "rbd" and "pool" not in s.props:
            s.props["pool"] = "rbd"
        sections.append(s)
        ctx.store.put_file(STORAGE, write_sections(sections, "storage"))
    return {"storage": sid, "type": stype, **({"config": returned} if returned else {})}


@route("PUT", "/storage/{storage}")
def update(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    sid = p_req(params, "storage")
    with ctx.store.tx():
        require_quorum(ctx)
        text = ctx.store.get_file(STORAGE)
        digest = p_str(params, "digest")
        if digest and digest != hashlib.sha1((text or "").encode()).hexdigest():
            raise ApiError(500, "detected modified configuration - file changed by other user? Try again.")
        sections = read(ctx)
        s = next((x for x in sections if x.id == sid), None)
        if s is None:
            raise ApiError(500, f"update storage failed: error with cfs lock 'file-storage_cfg': storage '{sid}' "
                           "does not exist")
        for fixed in ("path", "pool", "vgname", "thinpool", "server", "export", "datastore"):
            if fixed in params and s.props.get(fixed) not in (None, str(params[fixed])):
                raise ApiError(500, f"update storage failed: can't change value of fixed parameter '{fixed}'")
        params = dict(params)
        delete = [k.strip() for k in (p_str(params, "delete") or "").split(",") if k.strip()]
        hidden = storage_secrets.extract(s.type, params, delete)
        _apply(s, params)
        returned = storage_secrets.store(ctx, s.type, sid, s.props, hidden, adding=False)
        for k in delete:
            s.props.pop(k, None)
        ctx.store.put_file(STORAGE, write_sections(sections, "storage"))
    return {"storage": sid, "type": s.type, **({"config": returned} if returned else {})}


@route("DELETE", "/storage/{storage}")
def delete(ctx: Ctx, params: dict[str, Any]) -> None:
    sid = p_req(params, "storage")
    with ctx.store.tx():
        require_quorum(ctx)
        sections = read(ctx)
        gone = next((s for s in sections if s.id == sid), None)
        if gone is None:
            raise ApiError(500, f"delete storage failed: error with cfs lock 'file-storage_cfg': storage '{sid}' "
                           "does not exist")
        storage_secrets.remove_all(ctx, gone.type, sid)
        ctx.store.put_file(STORAGE, write_sections([s for s in sections if s.id != sid], "storage"))
