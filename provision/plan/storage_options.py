"""A storage spec model → the storage.cfg options `pvesm add/set` takes.

Spec fields are snake_case; storage.cfg spells some keys differently (`fs_name` →
`fs-name`). Values become PVE's text (`pve_text`: booleans 1/0, lists comma-separated,
`monhost` space-separated as pvesm writes it). Secrets stay references: they travel
separately so that apply can hand them to PVE as PVE expects (environment, stdin or a
0600 file), never as text in argv. Discovery reads the same keys back in
`provision.discover.storage`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from provision.actions import pve_text
from provision.spec.secrets import SecretRef

# spec field → storage.cfg / pvesm option name
OPTION_NAMES: dict[str, str] = {
    "fs_name": "fs-name", "prune_backups": "prune-backups", "data_pool": "data-pool",
    "is_shared": "shared", "encryption_key": "encryption-key", "secret": "keyring",
}
_SPACED = frozenset({"monhost"})
_NOT_OPTIONS = frozenset({"name", "type"})


def option_name(field: str) -> str:
    return OPTION_NAMES.get(field, field)


def storage_options(storage: Any, fields: Iterable[str] | None = None, *,
                    unset: bool = False) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(options, secrets) for `fields` of `storage` (all fields when None).

    With `unset=True`, the options are instead the names of the selected fields that
    have no value (for `pvesm set --delete`)."""
    chosen = set(fields) if fields is not None else None
    options: dict[str, str] = {}
    secrets: dict[str, dict[str, str]] = {}
    for field in type(storage).model_fields:
        if field in _NOT_OPTIONS or (chosen is not None and field not in chosen):
            continue
        value = getattr(storage, field)
        name = option_name(field)
        empty = value is None or value == []
        if unset:
            if empty:
                options[name] = ""
            continue
        if empty:
            continue
        if isinstance(value, SecretRef):
            secrets[name] = {"secret": value.describe()}
        elif name in _SPACED:
            options[name] = " ".join(str(v) for v in value)
        else:
            options[name] = str(pve_text(value))
    return options, secrets
