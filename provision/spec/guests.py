"""Guests that exist on the cluster.

pve-provision does not create VMs or containers; it manages their HA. Declaring
the guests lets `validate` check HA references and lets `simulate` know each
guest's size and home node. Discovery fills this list from the cluster.
"""

from __future__ import annotations

from pydantic import Field

from provision.spec.base import INT32_MAX, NODE_NAME, Int, SpecModel, Text
from provision.spec.ha import SID


class Guest(SpecModel):
    """A VM or container, as the cluster reports it."""

    sid: Text = Field(pattern=SID, description="vm:<vmid> or ct:<vmid>.")
    name: Text | None = Field(default=None, description="Guest name.")
    node: Text = Field(pattern=NODE_NAME, description="Node the guest is on.")
    memory_mib: Int = Field(default=0, ge=0, le=INT32_MAX, description="Configured memory in MiB.")
    cores: Int = Field(default=0, ge=0, le=INT32_MAX, description="Configured vCPUs.")
