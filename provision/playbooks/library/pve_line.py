#!/usr/bin/python
"""Ansible module: make sure a file holds a line, under an exclusive lock of that file.

`ansible.builtin.lineinfile` reads the file, adds the line and writes the whole file
back with no lock. When every node of a 32-node build authorizes its root key on the
first node at once (ssh_trust before the joins, all side by side), their read-modify-
writes of that node's `/root/.ssh/authorized_keys` overlap and keys are lost: the join
of a node whose key was dropped then fails with "Permission denied (publickey,password)".
This module appends under `flock`, so concurrent writers of one file (delegated tasks of
many hosts to one node) each add their line. A line already present (compared without
surrounding blanks) is left alone; the file is created, and kept, with `mode`.

With `read`, the result also carries that file's text as `content`, read before the
line is added: the SSH trust of a join reads the node's public key, then on the peer
authorizes it and reads the peer's host key in one step, then pins that key, three
tasks where a `slurp` per file made four. `line` is optional then. Like
library/pve_command.py this is a "JSON args" module that imports nothing of Ansible,
so a step costs no ~0.3 s of CPU to import `AnsibleModule`.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from typing import Any

# The task's arguments as json.dumps text, put here by Ansible; the raw literal keeps the
# text unchanged (library/pve_command.py says why that holds for any arguments).
_JSON_ARGS = r"""<<INCLUDE_ANSIBLE_MODULE_JSON_ARGS>>"""


def ensure_line(path: str, line: str, mode: int) -> bool:
    """Append ``line`` to ``path`` unless present; True when the file changed."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(os.dup(fd), "r+", encoding="utf-8", newline="") as f:
            text = f.read()
            if line.strip() in (existing.strip() for existing in text.splitlines()):
                changed = False
            else:
                f.write(("" if not text or text.endswith("\n") else "\n") + line + "\n")
                changed = True
        os.fchmod(fd, mode)
        return changed
    finally:
        os.close(fd)  # closing releases the lock


def run(args: dict[str, Any]) -> dict[str, Any]:
    """The module's result for its arguments: the `read` file's text, then the line."""
    out: dict[str, Any] = {"changed": False}
    if args.get("read"):
        try:
            with open(str(args["read"]), encoding="utf-8") as f:
                out["content"] = f.read()
        except OSError as exc:
            return {"failed": True, "msg": f"{args['read']}: {exc.strerror or exc}"}
    if args.get("line") is None:
        return out
    path, line = str(args.get("path") or ""), str(args["line"])
    if not path:
        return {"failed": True, "msg": "missing required arguments: path"}
    if not line.strip() or "\n" in line.strip():
        return {"failed": True, "msg": f"{path}: the line to add must be one non-empty line"}
    if args.get("_ansible_check_mode"):
        return out
    try:
        out["changed"] = ensure_line(path, line.strip(), int(str(args.get("mode") or "0600"), 8))
    except (OSError, ValueError) as exc:
        return {"failed": True, "msg": f"{path}: {getattr(exc, 'strerror', None) or exc}"}
    return out


def main() -> None:
    out = run(json.loads(_JSON_ARGS))
    print(json.dumps(out))
    sys.exit(1 if out.get("failed") else 0)


if __name__ == "__main__":
    main()
