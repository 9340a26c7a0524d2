"""``ha-manager crm-command ...`` run on one cluster node with Ansible, outside a plan.

Some HA requests are made with the node's own CLI as root, never through the API token:
node maintenance has no API path at all (pve-ha-manager ``src/PVE/CLI/ha_manager.pm``
``node-maintenance-set``), and ``disarm-ha``/``arm-ha`` have one that needs
``Sys.Console`` on ``/``, a privilege the read-only apply token does not carry
(docs/real-hardware.md: every change is made by root on a node). Both ``provision drill``
and ``apply --disarm-ha`` therefore run the command through the channel apply uses:
ansible-runner with the stack's inventory (SSH to the nodes, or the lab's inventory).
The playbook is fixed text; the command's words reach it only as ``!unsafe`` data, never
as YAML or template source or a shell string.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provision.apply.render import PLAYBOOKS_DIR, Inventory, write_action_vars
from provision.discover.endpoint import lab_connection_file
from provision.spec import Cluster

__all__ = ["CrmCommandError", "crm_command", "inventory_for"]

PLAYBOOK = """---
# provision: queue an HA CRM command with the node's ha-manager CLI.
- name: ha-manager crm-command
  hosts: pve
  gather_facts: false
  environment: "{{ pve_env | default({}) }}"
  vars_files: [crm_vars.yml]
  tasks:
    - name: ha-manager crm-command
      when: inventory_hostname == pve_actions.on
      ansible.builtin.command:
        argv: "{{ ['ha-manager', 'crm-command'] + pve_actions.words }}"
      changed_when: true
"""


class CrmCommandError(RuntimeError):
    """The command could not be run, or failed on the node."""


def inventory_for(cluster: Cluster, lab: str | None) -> Inventory:
    """The lab's own inventory, else the stack's nodes over SSH (as ``apply`` does)."""
    if lab is None:
        return Inventory.from_nodes(list(cluster.nodes), cluster.quorum.qdevice)
    info = json.loads(lab_connection_file(lab).read_text(encoding="utf-8"))
    return Inventory.from_lab(Path(info["inventory"]), list(cluster.node_names))


def crm_command(inventory: Inventory, on: str, words: Sequence[str]) -> None:
    """Run ``ha-manager crm-command WORDS...`` on host ``on``; raise CrmCommandError when it fails."""
    import ansible_runner

    root = Path(tempfile.mkdtemp(prefix="pve-provision-crm-"))
    try:
        project = root / "project"
        project.mkdir()
        (project / "site.yml").write_text(PLAYBOOK, encoding="utf-8")
        shutil.copy(PLAYBOOKS_DIR / "ansible.cfg", project / "ansible.cfg")
        write_action_vars(project / "crm_vars.yml", {"on": on, "words": list(words)})
        inv = root / "inventory"
        inv.mkdir()
        inventory.write(inv)
        runner = ansible_runner.run(
            private_data_dir=str(root), project_dir=str(project), playbook="site.yml",
            inventory=str(inv / "hosts.yml"), quiet=True, suppress_env_files=True, suppress_output_file=True,
            # never cancelled half-way (callers defer signals around it); without a callback
            # ansible-runner would install SIGINT/SIGTERM handlers of its own over the caller's
            cancel_callback=lambda: False,
            # this installation's ansible-playbook first, as apply runs it
            envvars={"ANSIBLE_LOCAL_TEMP": str(root / "ansible-tmp"),
                     "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])},
        )
        failures = [_message(e) for e in runner.events
                    if e.get("event") in ("runner_on_failed", "runner_on_unreachable")]
        ran = any(e.get("event") == "runner_on_ok" for e in runner.events)
        if runner.status != "successful" or runner.rc != 0 or failures or not ran:
            why = "; ".join(f for f in failures if f) or f"ansible-playbook ended {runner.status} (rc {runner.rc})"
            raise CrmCommandError(f"ha-manager crm-command {' '.join(words)} on {on}: {why}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _message(event: dict[str, Any]) -> str:
    """The last line of what the task said (stderr of the command, else Ansible's message)."""
    res = (event.get("event_data") or {}).get("res") or {}
    lines = str(res.get("stderr") or res.get("msg") or "").strip().splitlines()
    return lines[-1] if lines else ""
