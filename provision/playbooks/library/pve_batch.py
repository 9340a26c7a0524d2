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
failure is final. A member whose guard refuses it (`refuse`: the message of the kind's own
`assert`, such as a disk in use by something else) and the first command that fails stop
the batch, as they would stop the run: the result names what finished (`done`, guards
included), the action that failed (`failed_action`) and its stderr, so the run record
still says, per action, what happened.

Like library/pve_command.py this is a "JSON args" module that imports nothing of Ansible
(a module built on `AnsibleModule` spends ~0.3 s of CPU importing it before it runs): the
task's arguments arrive as JSON text, read with `json.loads`, and are checked here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

# The task's arguments as json.dumps text, put here by Ansible; the raw literal keeps the
# text unchanged (library/pve_command.py says why that holds for any arguments).
_JSON_ARGS = r"""<<INCLUDE_ANSIBLE_MODULE_JSON_ARGS>>"""

LOCK_ATTEMPTS = 10
"""Runs of a command that keeps failing on the cluster lock (each waits ~10 s for it)."""
LOCK_TIMEOUT = re.compile(r"cfs-lock '[^']+' error: got lock request timeout\s*$")
"""The last line of such a failure (pve-cluster `Cluster.pm` `$cfs_lock`), whatever the
caller's prefix (`create resource failed: ...`)."""

Run = Callable[[list[str]], tuple[int, str, str]]
"""Runs one argv on the node: (rc, stdout, stderr)."""


class BadArguments(ValueError):
    """The task's arguments are not a list of members as the batch templates write them."""


def _flag(value: Any, where: str) -> bool:
    """A boolean argument as Ansible's own type check reads it (JSON true, or its text)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0", ""):
        return False
    raise BadArguments(f"{where}: {value!r} is not a boolean")


def members(args: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The `commands` argument, checked: each member's label, argv (texts), run, refuse."""
    commands = args.get("commands")
    if not isinstance(commands, list):
        raise BadArguments("missing required arguments: commands (a list)")
    out = []
    for i, item in enumerate(commands):
        where = f"commands[{i}]"
        if not isinstance(item, dict) or "label" not in item or "argv" not in item or "run" not in item:
            raise BadArguments(f"{where}: needs label, argv and run")
        argv = item["argv"]
        if not isinstance(argv, list) or not argv:
            raise BadArguments(f"{where}.argv: a non-empty list")
        out.append({"label": str(item["label"]), "argv": [str(a) for a in argv],
                    "run": _flag(item["run"], f"{where}.run"), "refuse": str(item.get("refuse") or "")})
    return out


def _run_until_not_locked(argv: list[str], run: Run) -> tuple[tuple[int, str, str], int]:
    """Run one member, again while it failed only on the cluster lock; with the number of runs."""
    runs = 0
    while True:
        result = run(argv)
        runs += 1
        if result[0] == 0 or runs == LOCK_ATTEMPTS or not LOCK_TIMEOUT.search(result[2]):
            return result, runs


def execute(args: Mapping[str, Any], run: Run) -> dict[str, Any]:
    """The module's result for its arguments."""
    try:
        batch = members(args)
    except BadArguments as exc:
        return {"failed": True, "msg": str(exc)}
    check = _flag(args.get("_ansible_check_mode", False), "_ansible_check_mode")
    done: list[str] = []
    ran: list[str] = []
    retried: dict[str, int] = {}
    for item in batch:
        if item["refuse"]:
            return {"failed": True, "msg": item["refuse"], "done": done, "ran": ran,
                    "failed_action": item["label"], "changed": bool(ran)}
        if item["run"] and not check:
            (rc, out, err), runs = _run_until_not_locked(item["argv"], run)
            if runs > 1:
                retried[item["label"]] = runs
            if rc != 0:
                # the message names the member (its command's first words); stderr says why
                return {"failed": True, "msg": " ".join(item["argv"][:3]), "stderr": err, "stdout": out, "rc": rc,
                        "cmd": item["argv"], "done": done, "ran": ran, "retried": retried,
                        "failed_action": item["label"], "changed": bool(ran)}
            ran.append(item["label"])
        done.append(item["label"])
    return {"changed": bool(ran), "done": done, "ran": ran, "retried": retried}


def _run(argv: list[str]) -> tuple[int, str, str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        return 127, "", f"{argv[0]}: {exc.strerror or exc}"
    return proc.returncode, proc.stdout, proc.stderr


def main() -> None:
    out = execute(json.loads(_JSON_ARGS), _run)
    print(json.dumps(out))
    sys.exit(1 if out.get("failed") else 0)


if __name__ == "__main__":
    main()
