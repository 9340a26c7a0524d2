"""Secret references.

A stack file never holds a secret: it says where to find one (an environment
variable or a file) and the value is read only at the moment it is needed. The
reference prints as itself, so plans, logs and errors can never leak the value.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, model_validator

from provision.spec.base import SpecModel


class SecretUnavailableError(RuntimeError):
    """A referenced secret could not be read (unset variable, missing file)."""


class SecretRef(SpecModel):
    """Where a secret comes from: exactly one of `env` or `file`."""

    env: str | None = Field(
        default=None,
        description="Name of an environment variable that holds the secret.",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
    )
    file: Path | None = Field(
        default=None,
        description="Path of a file whose first line is the secret (relative paths are "
        "relative to the working directory).",
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
        try:
            text = self.file.expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise SecretUnavailableError(f"cannot read secret file {self.file}: {exc.strerror}") from exc
        value = text.strip().splitlines()[0] if text.strip() else ""
        if not value:
            raise SecretUnavailableError(f"secret file {self.file} is empty")
        return value

    def __repr__(self) -> str:
        return f"SecretRef({self.describe()})"

    __str__ = describe
