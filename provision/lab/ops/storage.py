"""``/etc/pve/storage.cfg`` through ``/storage`` (pve-storage ``API2/Storage/Config.pm``)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from typing import Any

from provision.lab.files import STORAGE, parse_sections, write_sections
from provision.lab.formats.sectionconfig import Section, storage_to_api
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


#: Options whose value is a secret: pve-storage keeps it in a file under /etc/pve/priv and
#: never in storage.cfg, and the API never returns it (see ``_store_secrets``).
SECRETS = frozenset({"password", "encryption-key", "master-pubkey", "keyring"})


def _apply(s: Section, params: dict[str, Any]) -> None:
    allowed = COMMON | PER_TYPE.get(s.type, set())
    for k, v in params.items():
        if k in META or v is None or k in SECRETS:
            continue
        if k not in allowed:
            raise param_error(k, "property is not defined in schema and the schema does not allow additional "
                              "properties")
        if k in ("disable", "shared", "krbd", "sparse"):
            v = "1" if str(v).lower() in ("1", "true", "yes", "on") else "0"
        s.props[k] = str(v)


def _store_secrets(ctx: Ctx, s: Section, params: dict[str, Any], *, adding: bool) -> None:
    """The plugins' on_add/on_update hooks: secrets go to files under priv/ (pve-storage
    ``PBSPlugin.pm`` pbs_set_password/_encryption_key/_master_pubkey, ``CIFSPlugin.pm``,
    ``CephConfig.pm`` ceph_create_keyfile); storage.cfg keeps only a marker."""
    allowed = PER_TYPE.get(s.type, set())
    for name in sorted(SECRETS & set(params)):
        if name not in allowed:
            raise param_error(name, "property is not defined in schema and the schema does not allow additional "
                              "properties")
    sid = s.id
    password = p_str(params, "password")
    if password is not None:
        ctx.store.put_file(f"priv/storage/{sid}.pw", password + "\n")
    elif adding and s.type in ("pbs", "cifs", "esxi"):
        ctx.store.delete_file(f"priv/storage/{sid}.pw")
    key = p_str(params, "encryption-key")
    if key is not None:
        if key == "autogen":
            fingerprint = ":".join(f"{b:02x}" for b in secrets.token_bytes(32))
            key = json.dumps({"kdf": None, "data": secrets.token_hex(32), "fingerprint": fingerprint})
        try:
            decoded = json.loads(key)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict) or "data" not in decoded:
            raise ApiError(500, "Value does not seems like a valid, JSON formatted encryption key!")
        ctx.store.put_file(f"priv/storage/{sid}.enc", key)
        s.props["encryption-key"] = str(decoded.get("fingerprint") or 1)
    master = p_str(params, "master-pubkey")
    if master is not None:
        if "encryption-key" not in s.props:
            raise ApiError(500, "'master-pubkey' can only be used together with 'encryption-key'")
        ctx.store.put_file(f"priv/storage/{sid}.master.pem", base64.b64decode(master).decode(errors="replace"))
        s.props["master-pubkey"] = "1"
    keyring = p_str(params, "keyring")
    if keyring is not None:
        ext = "secret" if s.type == "cephfs" else "keyring"
        if ext == "secret":  # CephConfig.pm: a CephFS secret file holds only the key
            m = re.search(r"key\s*=\s*(\S+)", keyring)
            keyring = (m.group(1) if m else keyring.strip()) + "\n"
        ctx.store.put_file(f"priv/ceph/{sid}.{ext}", keyring)


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
    with ctx.store.tx():
        require_quorum(ctx)
        sections = read(ctx)
        if any(s.id == sid for s in sections):
            raise ApiError(500, f"create storage failed: storage ID '{sid}' already defined")
        s = Section(stype, sid)
        _apply(s, params)
        _store_secrets(ctx, s, params, adding=True)
        if stype in ("nfs", "cifs", "cephfs") and "path" not in s.props:
            s.props["path"] = f"/mnt/pve/{sid}"
        if stype == "rbd" and "pool" not in s.props:
            s.props["pool"] = "rbd"
        sections.append(s)
        ctx.store.put_file(STORAGE, write_sections(sections, "storage"))
    return {"storage": sid, "type": stype}


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
        _apply(s, params)
        _store_secrets(ctx, s, params, adding=False)
        for k in (p_str(params, "delete") or "").split(","):
            if k.strip():
                s.props.pop(k.strip(), None)
        ctx.store.put_file(STORAGE, write_sections(sections, "storage"))
    return {"storage": sid, "type": s.type}


@route("DELETE", "/storage/{storage}")
def delete(ctx: Ctx, params: dict[str, Any]) -> None:
    sid = p_req(params, "storage")
    with ctx.store.tx():
        require_quorum(ctx)
        sections = read(ctx)
        if not any(s.id == sid for s in sections):
            raise ApiError(500, f"delete storage failed: error with cfs lock 'file-storage_cfg': storage '{sid}' "
                           "does not exist")
        ctx.store.put_file(STORAGE, write_sections([s for s in sections if s.id != sid], "storage"))
        for secret in (f"priv/storage/{sid}.pw", f"priv/storage/{sid}.enc", f"priv/storage/{sid}.master.pem",
                       f"priv/ceph/{sid}.keyring", f"priv/ceph/{sid}.secret"):
            ctx.store.delete_file(secret)  # the plugins' on_delete_hook
