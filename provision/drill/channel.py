"""``ha-manager crm-command node-maintenance enable|disable NODE``, run on a node with Ansible.

PVE has no API path for node maintenance: it is a method of the ``ha-manager`` command
itself (pve-ha-manager ``src/PVE/CLI/ha_manager.pm`` ``node-maintenance-set``, PVE 8 and
9), which queues a CRM command in ``/etc/pve/ha/crm_commands``. So the drill runs that
command on a cluster node through the channel ``apply`` uses: ansible-runner with the
stack's inventory (SSH to the nodes, or the lab's own inventory). The playbook is fixed
text; the node name and the verb reach it only as ``!unsafe`` data, never as YAML or
template source or as a shell string.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Literal

from provision.apply.render import PLAYBOOKS_DIR, Inventory, write_action_vars
from provision.discover.endpoint import lab_connection_file
from provision.spec import Cluster

__all__ = ["ChannelError", "inventory_for", "node_maintenance"]

PLAYBOOK = """---
# provision drill: queue an HA node-maintenance request (ha-manager CLI only, no API path).
- name: HA node maintenance
  hosts: pve
  gather_facts: false
  environment: "{{ pve_env | default({}) }}"
  vars_files: [drill_vars.yml]
  tasks:
    - name: ha-manager crm-command node-maintenance
      when: inventory_hostname == pve_actions.on
      ansible.builtin.command:
        argv: [ha-manager, crm-command, node-maintenance, "{{ pve_actions.verb }}", "{{ pve_actions.node }}"]
      changed_when: true
"""


class ChannelError(RuntimeError):
    """The command could not be run, or failed on the node."""


def inventory_for(cluster: Cluster, lab: str | None) -> Inventory:
    """The lab's own inventory, else the stack's nodes over SSH (as ``apply`` does)."""
    if lab is None:
        return Inventory.from_nodes(list(cluster.nodes), cluster.quorum.qdevice)
    info = json.loads(lab_connection_file(lab).read_text(encoding="utf-8"))
    return Inventory.from_lab(Path(info["inventory"]), list(cluster.node_names))


def node_maintenance(inventory: Inventory, on: str, node: str, verb: Literal["enable", "disable"]) -> None:
    """Run the command on host ``on`` for ``node``; raise ChannelError when it fails."""
    import ansible_runner

    root = Path(tempfile.mkdtemp(prefix="pve-provision-drill-"))
    try:
        project = root / "project"
        project.mkdir()
        (project / "site.yml").write_text(PLAYBOOK, encoding="utf-8")
        shutil.copy(PLAYBOOKS_DIR / "ansible.cfg", project / "ansible.cfg")
        write_action_vars(project / "drill_vars.yml", {"on": on, "node": node, "verb": verb})
        inv = root / "inventory"
        inv.mkdir()
        inventory.write(inv)
        runner = ansible_runner.run(
            private_data_dir=str(root), project_dir=str(project), playbook="site.yml",
            inventory=str(inv / "hosts.yml"), quiet=True, suppress_env_files=True, suppress_output_file=True,
            # this installation's ansible-playbook first, as apply runs it
            envvars={"ANSIBLE_LOCAL_TEMP": str(root / "ansible-tmp"),
                     "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])},
        )
        failures = [_message(e) for e in runner.events
                    if e.get("event") in ("runner_on_failed", "runner_on_unreachable")]
        ran = any(e.get("event") == "runner_on_ok" for e in runner.events)
        if runner.status != "successful" or runner.rc != 0 or failures or not ran:
            why = "; ".join(f for f in failures if f) or f"ansible-playbook ended {runner.status} (rc {runner.rc})"
            raise ChannelError(f"ha-manager crm-command node-maintenance {verb} {node} on {on}: {why}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _message(event: dict[str, Any]) -> str:
    """The last line of what the task said (stderr of the command, else Ansible's message)."""
    res = (event.get("event_data") or {}).get("res") or {}
    lines = str(res.get("stderr") or res.get("msg") or "").strip().splitlines()
    return lines[-1] if lines else ""
