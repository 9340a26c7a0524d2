"""Secret references.

A stack file never holds a secret: it says where to find one (an environment
variable or a file) and the value is read only at the moment it is needed. The
reference prints as itself, so plans, logs and errors can never leak the value.

A reference must not become a way to read anything else (issue 10): a stack that
says `password: {file: /etc/shadow}` would otherwise have apply send that file to
whatever PBS server the stack names. So, when a stack is loaded:

- a `file:` path is taken relative to the stack file's directory, its symlinks are
  resolved, and the real path must lie inside the allowed directory: the stack's
  directory tree, or `$PROVISION_SECRETS_DIR` (or `secrets_dir=`) when set. The
  reference is stored as that real absolute path, which is what the plan records
  and apply reads.
- an `env:` name must not be one of pve-provision's own credentials
  (`own_credential`); the cross-checks also refuse the stack's own API token
  variable or file for anything but the connection.

At read time `resolve` opens the file without following a symlink in its last
component, refuses anything but a regular file and reads at most
`MAX_SECRET_BYTES`, so a swapped-in FIFO or /dev/zero cannot hang apply.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from provision.spec.base import SpecModel, Text
from provision.spec.boundedread import NotRegularFile, TooLarge, read_bounded
from provision.spec.limits import MAX_SECRET_BYTES

SECRETS_DIR_ENV = "PROVISION_SECRETS_DIR"
"""Environment variable naming the directory `file:` secrets must lie in."""

# Variables pve-provision reads for itself: its settings (PROVISION_*), the secrets
# apply hands to Ansible (PVE_PROVISION_SECRET_*), the lab's node CLI settings
# (PVE_LAB_*) and PVE_TOKEN, the API token variable the documentation uses.
_OWN_ENV_PREFIXES = ("PROVISION_", "PVE_PROVISION_", "PVE_LAB_")
_OWN_ENV_NAMES = frozenset({"PVE_TOKEN"})


def own_credential(name: str) -> bool:
    """True when environment variable `name` holds pve-provision's own settings or credentials."""
    return name in _OWN_ENV_NAMES or name.startswith(_OWN_ENV_PREFIXES)


def secret_context(stack_dir: Path, secrets_dir: Path | None = None) -> dict[str, Path]:
    """Validation context for loading a stack: where relative `file:` paths start and
    the directory they must stay inside (explicit, else $PROVISION_SECRETS_DIR, else the
    stack's directory)."""
    allowed = secrets_dir
    if allowed is None and os.environ.get(SECRETS_DIR_ENV):
        allowed = Path(os.environ[SECRETS_DIR_ENV])
    if allowed is None:
        allowed = stack_dir
    return {"stack_dir": stack_dir, "secrets_dir": Path(os.path.realpath(allowed.expanduser()))}


class SecretUnavailableError(RuntimeError):
    """A referenced secret could not be read (unset variable, missing file)."""


class SecretRef(SpecModel):
    """Where a secret comes from: exactly one of `env` or `file`."""

    env: Text | None = Field(
        default=None,
        description="Name of an environment variable that holds the secret.",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
    )
    file: Path | None = Field(
        default=None,
        description="Path of a file whose first line is the secret. Relative paths start at the stack "
        "file's directory; the file must lie inside that directory tree, or inside $PROVISION_SECRETS_DIR "
        "when set (symlinks resolved).",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: object) -> object:
        # Never echo the value: this message must be safe to print in CI logs.
        if not isinstance(data, dict):
            raise ValueError(
                "an inline secret is not allowed (it would end up in git); "
                "use {env: VARIABLE} or {file: /path/to/secret}"
            )
        return data

    @field_validator("file")
    @classmethod
    def _confined(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        context: Any = info.context
        if value is None or not isinstance(context, dict) or "secrets_dir" not in context:
            return value  # built in code (discovery, apply), not from a stack file
        if "\x00" in str(value) or any(ch in str(value) for ch in "\n\r"):
            raise ValueError("a secret file path must be one line")
        allowed: Path = context["secrets_dir"]
        real = Path(os.path.realpath(Path(context["stack_dir"]) / value.expanduser()))
        if real != allowed and allowed not in real.parents:
            raise ValueError(
                f"secret file {value} resolves to {real}, outside the allowed directory {allowed} "
                f"(keep secrets next to the stack, or set {SECRETS_DIR_ENV})"
            )
        return real

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret reference needs exactly one of 'env' or 'file'")
        return self

    def describe(self) -> str:
        """A printable, secret-free description of the reference."""
        return f"env:{self.env}" if self.env is not None else f"file:{self.file}"

    def resolve(self) -> str:
        """Read the secret now. Raises SecretUnavailableError with a clear cause."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise SecretUnavailableError(f"environment variable {self.env} is not set")
            return value.strip()
        assert self.file is not None
        text = _read_secret_file(self.file.expanduser())
        value = text.strip().splitlines()[0] if text.strip() else ""
        if not value:
            raise SecretUnavailableError(f"secret file {self.file} is empty")
        return value

    def __repr__(self) -> str:
        return f"SecretRef({self.describe()})"

    __str__ = describe


def _read_secret_file(path: Path) -> str:
    """At most MAX_SECRET_BYTES of a regular file, never through a final symlink."""
    try:
        data = read_bounded(path, MAX_SECRET_BYTES, follow_symlinks=False)
    except NotRegularFile:
        raise SecretUnavailableError(f"secret file {path} is not a regular file") from None
    except TooLarge:
        raise SecretUnavailableError(f"secret file {path} is larger than {MAX_SECRET_BYTES // 1024} KiB") from None
    except OSError as exc:
        raise SecretUnavailableError(f"cannot read secret file {path}: {exc.strerror}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretUnavailableError(f"secret file {path} is not UTF-8 text") from None
