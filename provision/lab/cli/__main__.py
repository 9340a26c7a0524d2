"""``python -m provision.lab.cli <command> [args]``: what the lab's ``bin/`` shims exec."""

from __future__ import annotations

import importlib
import sys

from provision.lab.cli.argvlog import log_argv
from provision.lab.cli.common import run

MODULES = {
    "pvesh": "pvesh",
    "pvecm": "pvecm",
    "pveceph": "pveceph",
    "ha-manager": "ha_manager",
    "pvesm": "pvesm",
    "ifreload": "ifreload",
    "qm": "qm",
    "ceph": "ceph",
    "systemctl": "systemctl",
    "systemd-run": "systemd_run",
    "corosync-cfgtool": "corosync_cfgtool",
    "apt-get": "apt_get",
    "dpkg-query": "dpkg_query",
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in MODULES:
        print(f"usage: python -m provision.lab.cli <{'|'.join(MODULES)}> [args]", file=sys.stderr)
        return 2
    name = sys.argv[1]
    log_argv(sys.argv[1:])
    try:
        module = importlib.import_module(f"provision.lab.cli.{MODULES[name]}")
    except ModuleNotFoundError:
        print(f"{name}: not simulated by this lab yet", file=sys.stderr)
        return 127
    return run(module.main, sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
