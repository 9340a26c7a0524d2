"""``ha-manager crm-command node-maintenance enable|disable NODE``, run on a node with Ansible.

PVE has no API path for node maintenance: it is a method of the ``ha-manager`` command
itself (pve-ha-manager ``src/PVE/CLI/ha_manager.pm`` ``node-maintenance-set``, PVE 8 and
9), which queues a CRM command in ``/etc/pve/ha/crm_commands``. So the drill runs that
command on a cluster node through ``provision.apply.crmcommand``, the channel apply uses
for its own CRM commands (``--disarm-ha``).
"""

from __future__ import annotations

from typing import Literal

from provision.apply.crmcommand import CrmCommandError, crm_command, inventory_for
from provision.apply.render import Inventory

__all__ = ["ChannelError", "inventory_for", "node_maintenance"]

ChannelError = CrmCommandError


def node_maintenance(inventory: Inventory, on: str, node: str, verb: Literal["enable", "disable"]) -> None:
    """Run the command on host ``on`` for ``node``; raise ChannelError when it fails."""
    crm_command(inventory, on, ["node-maintenance", verb, node])
