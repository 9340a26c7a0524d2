"""How pve-provision reaches a cluster: the PVE REST API, or a local lab by name.

Before a cluster exists each node is standalone: its API answers only for itself and
knows only the tokens made on it (each has its own /etc/pve). `bootstrap` names, per node
that is not a member yet, that node's own API and a token made there; discovery reads such
a node only through it (docs/stack-input.md, "Bootstrap from blank nodes")."""

from __future__ import annotations

from pydantic import Field, HttpUrl, field_validator, model_validator

from provision.spec.base import FilePath, SpecModel, Text, check_node_names, described
from provision.spec.secrets import SecretRef

FINGERPRINT = described(r"^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$",
                        "a SHA-256 fingerprint: 32 hex byte pairs separated by ':' (AA:BB:...)")


class NodeApi(SpecModel):
    """One node's API and a token that exists there. TLS is always verified, against a
    CA file or a pinned certificate fingerprint; `--insecure` on the command line is the
    only way out."""

    url: HttpUrl = Field(description="Base URL of the node's API, e.g. https://10.0.0.11:8006.")
    token: SecretRef = Field(
        description="API token as `USER@REALM!TOKENID=SECRET`, read from an environment "
        "variable or a file. Never inline."
    )
    ca_file: FilePath | None = Field(
        default=None, description="PEM file of the CA that signed the node certificate."
    )
    fingerprint: Text | None = Field(
        default=None,
        pattern=FINGERPRINT,
        description="SHA-256 fingerprint (AA:BB:...) of the node certificate to pin instead of a CA.",
    )


class ApiEndpoint(NodeApi):
    """A real cluster's API (`url`, `token`: the node the cluster is created on, or any
    member once it exists), plus the nodes that are not members yet (`bootstrap`)."""

    bootstrap: dict[str, NodeApi] = Field(
        default_factory=dict,
        description="Per node that is not a cluster member yet (a freshly installed node): "
        "its own API and a token made on that node (`pveum user token add root@pam provision "
        "--privsep 0`). A standalone node's API answers only for itself and knows only its "
        "own tokens, so discovery reads each such node here and never sends one node's "
        "token to another. Unused once the node has joined (its own tokens are gone then).",
    )

    @field_validator("bootstrap")
    @classmethod
    def _node_names(cls, value: dict[str, NodeApi]) -> dict[str, NodeApi]:
        check_node_names(value)
        return value


class Connection(SpecModel):
    """Exactly one of `api` (a real cluster) or `lab` (a local lab started with
    `provision lab up`, which resolves to its URL, CA and token, and to each blank
    node's own address and bootstrap token)."""

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
