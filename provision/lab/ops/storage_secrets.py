"""Where storage secrets live: `/etc/pve/priv/...`, never `storage.cfg`.

pve-storage takes each type's *sensitive properties* out of the parameters before
the section is written (`API2/Storage/Config.pm` create/update:
`extract_sensitive_params`) and hands them to the plugin's hooks, which write them
under `/etc/pve/priv/`. `GET /storage` and `GET /storage/{id}` return the section
as stored, so a secret is never in an API answer, whichever token asks. This module
is that split for the lab; citations in docs/lab-contract.md ("Storage secrets").
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

from provision.lab.registry import ApiError, Ctx

# Plugin::sensitive_properties: the plugin's 'sensitive-properties', or the old
# hard-coded list for types without one.
_FALLBACK = ("encryption-key", "keyring", "master-pubkey", "password")
SENSITIVE: dict[str, tuple[str, ...]] = {
    "pbs": ("encryption-key", "master-pubkey", "password"),
    "cifs": ("password",),
    "esxi": ("password",),
    "rbd": ("keyring",),
    "cephfs": ("keyring",),
    "dir": (), "btrfs": (), "nfs": (), "lvm": (), "lvmthin": (), "zfspool": (), "zfs": (),
    "iscsi": (), "iscsidirect": (),
}


def sensitive(stype: str) -> tuple[str, ...]:
    return SENSITIVE.get(stype, _FALLBACK)


def extract(stype: str, params: dict[str, Any], delete: list[str]) -> dict[str, str | None]:
    """Remove the sensitive parameters from `params`; a name in `delete` maps to None
    (PVE::Tools::extract_sensitive_params)."""
    out: dict[str, str | None] = {}
    for key in sensitive(stype):
        if key in params and params[key] is not None:
            out[key] = str(params.pop(key))
        elif key in delete:
            out[key] = None
    return out


def _pw_file(sid: str) -> str:
    return f"priv/storage/{sid}.pw"


def _ceph_file(stype: str, sid: str) -> str:
    # CephConfig.pm ceph_create_keyfile: `.secret` for cephfs, `.keyring` for rbd
    return f"priv/ceph/{sid}.{'secret' if stype == 'cephfs' else 'keyring'}"


def _put(ctx: Ctx, path: str, value: str | None) -> None:
    if value is None:
        if ctx.store.get_file(path) is not None:
            ctx.store.delete_file(path)
    else:
        ctx.store.put_file(path, value)


def _encryption_key(sid: str, value: str) -> tuple[str, str]:
    """(key file text, value stored in storage.cfg) for PBS `encryption-key`
    (PBSPlugin.pm on_add_hook: `autogen` or a JSON key with `data`; the config
    keeps only its fingerprint, or 1)."""
    if value == "autogen":
        data = base64.b64encode(secrets.token_bytes(32)).decode()
        fingerprint = ":".join(f"{b:02x}" for b in hashlib.sha256(data.encode()).digest())
        key = json.dumps({"kdf": None, "data": data, "fingerprint": fingerprint})
        return key, fingerprint
    try:
        decoded = json.loads(value)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict) or "data" not in decoded:
        raise ApiError(500, f"create storage failed: {sid}: Value does not seems like a valid, JSON formatted "
                       "encryption key!")
    return value, str(decoded.get("fingerprint") or 1)


def store(ctx: Ctx, stype: str, sid: str, props: dict[str, str], values: dict[str, str | None],
          *, adding: bool) -> dict[str, Any]:
    """Write (or, for None, remove) each secret where the plugin's hook puts it and
    leave only its marker in `props`. Returns what the API answers as `config`."""
    returned: dict[str, Any] = {}
    if stype == "pbs":
        if adding or "password" in values:
            _put(ctx, _pw_file(sid), None if values.get("password") is None else f"{values['password']}\n")
        if adding or "encryption-key" in values:
            key = values.get("encryption-key")
            if key is None:
                _put(ctx, f"priv/storage/{sid}.enc", None)
                props.pop("encryption-key", None)
            else:
                text, marker = _encryption_key(sid, key)
                _put(ctx, f"priv/storage/{sid}.enc", text)
                props["encryption-key"] = marker
                returned["encryption-key"] = text
        if adding or "master-pubkey" in values:
            pem = values.get("master-pubkey")
            if pem is not None and "encryption-key" not in props:
                raise ApiError(500, "'master-pubkey' can only be used together with 'encryption-key'")
            _put(ctx, f"priv/storage/{sid}.master.pem",
                 None if pem is None else base64.b64decode(pem, validate=False).decode(errors="replace"))
            if pem is None:
                props.pop("master-pubkey", None)
            else:
                props["master-pubkey"] = "1"
    elif stype in ("cifs", "esxi") and (adding or "password" in values):
        password = values.get("password")
        _put(ctx, _pw_file(sid), None if password is None else f"password={password}\n")
    elif stype in ("rbd", "cephfs") and "keyring" in values:
        key = values["keyring"]
        _put(ctx, _ceph_file(stype, sid), None if key is None else f"{key.rstrip(chr(10))}\n")
    return returned


def remove_all(ctx: Ctx, stype: str, sid: str) -> None:
    """The plugins' on_delete_hook: a deleted storage leaves no secret behind."""
    for path in (_pw_file(sid), f"priv/storage/{sid}.enc", f"priv/storage/{sid}.master.pem",
                 _ceph_file(stype, sid)):
        _put(ctx, path, None)

