#!/usr/bin/python
"""Ansible module: many actions of one kind on one node as one task.

A plan for a large cluster holds thousands of actions of a few kinds (2,000 `ha-manager
add`s for 2,000 HA resources). As one task each, every action paid Ansible's own cost
per task (a module process, its result, the callbacks) on top of its command. Where
several actions of one kind run one after the other on one node, apply renders them as
one task of this module: it gets each action's label, its argv (a list, never a shell
line) and whether its guard says it must run, and runs them in plan order, one at a time.
Batches on several nodes run side by side (`ha-manager add` spread over the nodes), and
PVE serialises their edits on a cluster-wide lock (`cfs_lock_domain`): a command that
waited out that lock fails with `cfs-lock '<id>' error: got lock request timeout` having
changed nothing, so the module runs it again, up to LOCK_ATTEMPTS times in all; any other
failure is final. A member whose guard refuses it (`refuse`:
the message of the kind's own `assert`, such as a disk in use by something else) and the
first command that fails stop the batch, as they would stop the run: the result names what finished (`done`, guards
included), the action that failed (`failed_action`) and its stderr, so the run record still says, per
action, what happened.
"""

from __future__ import annotations

import re
import subprocess

from ansible.module_utils.basic import AnsibleModule

LOCK_ATTEMPTS = 10
"""Runs of a command that keeps failing on the cluster lock (each waits ~10 s for it)."""
LOCK_TIMEOUT = re.compile(r"cfs-lock '[^']+' error: got lock request timeout\s*$")
"""The last line of such a failure (pve-cluster `Cluster.pm` `$cfs_lock`), whatever the
caller's prefix (`create resource failed: ...`)."""


def _run(argv: list[str]) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run one member, again while it failed only on the cluster lock; with the number of runs."""
    runs = 0
    while True:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        runs += 1
        if proc.returncode == 0 or runs == LOCK_ATTEMPTS or not LOCK_TIMEOUT.search(proc.stderr):
            return proc, runs


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "commands": {"type": "list", "elements": "dict", "required": True, "options": {
                "label": {"type": "str", "required": True},
                "argv": {"type": "list", "elements": "str", "required": True},
                "run": {"type": "bool", "required": True},
                "refuse": {"type": "str", "required": False, "default": ""},
            }},
        },
        supports_check_mode=True,
    )
    done: list[str] = []
    ran: list[str] = []
    retried: dict[str, int] = {}
    for item in module.params["commands"]:
        if item["refuse"]:
            module.fail_json(msg=item["refuse"], done=done, ran=ran, failed_action=item["label"], changed=bool(ran))
        if item["run"] and not module.check_mode:
            proc, runs = _run(item["argv"])
            if runs > 1:
                retried[item["label"]] = runs
            if proc.returncode != 0:
                # the message names the member (its command's first words); stderr says why
                module.fail_json(msg=" ".join(item["argv"][:3]),
                                 stderr=proc.stderr, stdout=proc.stdout, rc=proc.returncode, cmd=item["argv"],
                                 done=done, ran=ran, retried=retried, failed_action=item["label"],
                                 changed=bool(ran))
            ran.append(item["label"])
        done.append(item["label"])
    module.exit_json(changed=bool(ran), done=done, ran=ran, retried=retried)


if __name__ == "__main__":
    main()
