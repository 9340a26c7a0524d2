"""How pve-provision reaches a cluster: the PVE REST API, or a local lab by name."""

from __future__ import annotations

from pydantic import Field, HttpUrl, model_validator

from provision.spec.base import FilePath, SpecModel, Text, described
from provision.spec.secrets import SecretRef

FINGERPRINT = described(r"^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$",
                        "a SHA-256 fingerprint: 32 hex byte pairs separated by ':' (AA:BB:...)")


class ApiEndpoint(SpecModel):
    """A real cluster's API. TLS is always verified, against a CA file or a pinned
    certificate fingerprint; `--insecure` on the command line is the only way out."""

    url: HttpUrl = Field(description="Base URL of one node's API, e.g. https://10.0.0.11:8006.")
    token: SecretRef = Field(
        description="API token as `USER@REALM!TOKENID=SECRET`, read from an environment "
        "variable or a file. Never inline."
    )
    ca_file: FilePath | None = Field(
        default=None, description="PEM file of the CA that signed the node certificates."
    )
    fingerprint: Text | None = Field(
        default=None,
        pattern=FINGERPRINT,
        description="SHA-256 fingerprint (AA:BB:...) of the node certificate to pin instead of a CA.",
    )


class Connection(SpecModel):
    """Exactly one of `api` (a real cluster) or `lab` (a local lab started with
    `provision lab up`, which resolves to its URL, CA and token)."""

    lab: Text | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Name of a local lab (`provision lab up --name NAME`); `default` for the quickstart.",
    )
    api: ApiEndpoint | None = Field(default=None, description="The cluster's PVE REST API.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Connection:
        if (self.lab is None) == (self.api is None):
            raise ValueError("connection needs exactly one of 'lab' or 'api'")
        return self
