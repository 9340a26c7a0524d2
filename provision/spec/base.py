"""Common base for every spec model.

All models forbid unknown keys (a typo in a stack file must be an error, not a
silently ignored setting) and every field carries a description, because the
descriptions become the JSON Schema that editors use for completion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict


class SpecModel(BaseModel):
    """Base model: strict about unknown keys, friendly about YAML scalars."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        validate_default=True,
        use_attribute_docstrings=False,
    )


# Name patterns shared by several models. Proxmox node names are hostnames;
# configids (HA groups/rules, storage ids, pools) follow PVE's `pve-configid`.
NODE_NAME = r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
CONFIG_ID = r"^[a-zA-Z][a-zA-Z0-9_\-.]{0,63}$"
CLUSTER_NAME = r"^[A-Za-z0-9][A-Za-z0-9-]{0,14}$"


def check_node_names(names: Iterable[str]) -> None:
    """For node names used as keys or list items, where `Field(pattern=...)` cannot reach."""
    for name in names:
        if not re.match(NODE_NAME, name):
            raise ValueError(f"{name!r} is not a valid node name")
