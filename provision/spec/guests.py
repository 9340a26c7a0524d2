"""Guests that exist on the cluster.

pve-provision does not create VMs or containers; it manages their HA. Declaring
the guests lets `validate` check HA references and lets `simulate` know each
guest's size and home node. Discovery fills this list from the cluster.
"""

from __future__ import annotations

from pydantic import Field

from provision.spec.base import NODE_NAME, SpecModel
from provision.spec.ha import SID


class Guest(SpecModel):
    """A VM or container, as the cluster reports it."""

    sid: str = Field(pattern=SID, description="vm:<vmid> or ct:<vmid>.")
    name: str | None = Field(default=None, description="Guest name.")
    node: str = Field(pattern=NODE_NAME, description="Node the guest is on.")
    memory_mib: int = Field(default=0, ge=0, description="Configured memory in MiB.")
    cores: int = Field(default=0, ge=0, description="Configured vCPUs.")
