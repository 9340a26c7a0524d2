"""Webhook notification targets (PVE >= 8.3): what differs from the other target types.

pve-manager `PVE/API2/Cluster/Notifications.pm` (webhook_properties) takes `header` and
`secret` as arrays of property strings `name=<name>,value=<base64 of the value>` and `body`
as base64 text; proxmox-rs `proxmox-notify/src/api/webhook.rs` keeps the secrets in the
private file, answers them by name only, and on update checks that every header has a
value and valid base64, keeps a secret given by name alone, and refuses an unknown or
repeated one. Citations in docs/lab-contract.md.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from provision.lab.formats.sectiontext import NotifySection
from provision.lab.registry import ApiError, param_error


def _pair(text: str, key: str) -> dict[str, str]:
    """`name=<n>[,value=<v>]`: the KeyAndBase64Val property string (name required)."""
    out: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or name not in ("name", "value") or name in out:
            raise param_error(key, f"value does not match the regex pattern or is not a property string: '{text}'")
        out[name] = value
    if "name" not in out:
        raise param_error(key, "missing property - 'name'")
    return out


def _valid_base64(text: str) -> bool:
    try:
        base64.b64decode(text.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    return True


def check_create(props: dict[str, str | list[str]]) -> None:
    """add_endpoint deserialises the property strings; it checks no base64."""
    for key in ("header", "secret"):
        for item in props.get(key, []):
            _pair(str(item), key)


def check_update(props: dict[str, str | list[str]], old: str | list[str]) -> None:
    """update_endpoint: headers need a base64 value; a secret without a value keeps the
    stored one (rewritten into `props`), an unknown or repeated name is a 400."""
    for item in props.get("header", []):
        pair = _pair(str(item), "header")
        if not pair.get("value"):
            raise ApiError(400, f"header '{pair['name']}' has empty value")
        if not _valid_base64(pair["value"]):
            raise ApiError(400, f"header '{pair['name']}' does not have valid base64 encoded data")
    if "secret" not in props:
        return
    stored = {_pair(str(o), "secret")["name"]: str(o) for o in (old if isinstance(old, list) else [old] if old else [])}
    out: list[str] = []
    seen: set[str] = set()
    for item in props["secret"]:
        pair = _pair(str(item), "secret")
        name = pair["name"]
        if "value" in pair:
            if not _valid_base64(pair["value"]):
                raise ApiError(400, f"secret '{name}' does not have valid base64 encoded data")
            text = str(item)
        elif name in stored:
            text = stored[name]
        else:
            raise ApiError(400, f"secret '{name}' not known")
        if name in seen:
            raise ApiError(400, f"secret '{name}' defined multiple times")
        seen.add(name)
        out.append(text)
    props["secret"] = out


def secret_names(private: NotifySection | None) -> dict[str, Any]:
    """GET answers `secret` as the names alone (`name=<n>`), never the values."""
    if private is None or not private.props.get("secret"):
        return {}
    items = private.props["secret"]
    listed = items if isinstance(items, list) else [items]
    return {"secret": [f"name={_pair(str(i), 'secret')['name']}" for i in listed]}
