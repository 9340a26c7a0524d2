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
"""

from __future__ import annotations

import fcntl
import os

from ansible.module_utils.basic import AnsibleModule


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


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "line": {"type": "str", "required": True},
            "mode": {"type": "raw", "default": "0600"},
        },
        supports_check_mode=True,
    )
    path, line = module.params["path"], module.params["line"]
    mode = int(str(module.params["mode"]), 8)
    if not line.strip() or "\n" in line.strip():
        module.fail_json(msg=f"{path}: the line to add must be one non-empty line")
    if module.check_mode:
        module.exit_json(changed=False)
    try:
        changed = ensure_line(path, line.strip(), mode)
    except OSError as exc:
        module.fail_json(msg=f"{path}: {exc.strerror or exc}")
    module.exit_json(changed=changed)


if __name__ == "__main__":
    main()
