"""The command line of every node CLI call, one JSON line in `<lab>/argv.log`.

A real node's process table shows every command's argv to every local user (/proc/PID/
cmdline), so a secret in argv is a leak; the lab keeps what the process table would have
shown, so tests can prove that apply never puts one there (docs/security.md). The
environment is not logged: only the process's owner can read it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

LOG_NAME = "argv.log"


def log_argv(argv: list[str]) -> None:
    """Append `argv` (command name first) with the node it ran as; no lab, no log."""
    lab_dir = os.environ.get("PVE_LAB_DIR")
    if not lab_dir or not Path(lab_dir).is_dir():
        return
    line = json.dumps({"node": os.environ.get("PVE_LAB_NODE", ""), "argv": argv}) + "\n"
    fd = os.open(Path(lab_dir) / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())  # one write of an O_APPEND file: lines of parallel calls never mix
    finally:
        os.close(fd)
