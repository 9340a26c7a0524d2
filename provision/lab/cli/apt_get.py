"""``apt-get install [-y] PKG...`` on a lab node or an external host (the QNetd host).

The QDevice's packages come from Debian, installed the way pve-docs `pvecm.adoc` tells
the admin (`apt install corosync-qdevice` on every node, `apt install corosync-qnetd` on
the external host). Installing what is already installed changes nothing and says so, as
apt does ("0 newly installed"); an unknown package is apt's "Unable to locate package"
with exit code 100. The caller is `$PVE_LAB_NODE` (a node) or `$PVE_LAB_HOST` (an
external host's address).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from provision.lab import hosts
from provision.lab.cli.common import fail, node_context
from provision.lab.ops import packages
from provision.lab.paths import LabPaths
from provision.lab.store import Store

EXIT_APT = 100


@contextmanager
def target(argv: list[str]) -> Iterator[tuple[Store, str]]:
    """The lab store and who is asking: `$PVE_LAB_HOST` (an external host) or the node."""
    host = os.environ.get("PVE_LAB_HOST")
    if not host:
        with node_context(argv) as ctx:
            yield ctx.store, ctx.node
        return
    lab_dir = os.environ.get("PVE_LAB_DIR")
    if not lab_dir or not LabPaths(Path(lab_dir)).db.exists():
        fail("PVE_LAB_DIR must name a lab", 1)
    store = Store(LabPaths(Path(str(lab_dir))).db)
    try:
        if not hosts.is_host(store, host):
            fail(f"ssh: connect to host {host} port 22: No route to host", 255)
        yield store, host
    finally:
        store.close()


def main(argv: list[str]) -> int:
    words = [a for a in argv if not a.startswith("-")]
    if not words or words[0] != "install":
        fail("E: the lab's apt-get only simulates 'install'", EXIT_APT)
    wanted = words[1:]
    with target(["apt-get", *argv]) as (store, who):
        available = packages.DEBIAN[int(store.get_meta("pve_version", 8))]
        for name in wanted:
            if name not in available:
                fail(f"E: Unable to locate package {name}", EXIT_APT)
        with store.tx():
            have = packages.installed(store, who)
            new = {n: available[n] for n in wanted if n not in have}
            packages.install(store, who, new)
    print("Reading package lists... Done\nBuilding dependency tree... Done")
    for name in wanted:
        if name not in new:
            print(f"{name} is already the newest version ({available[name]}).")
    if new:
        print("The following NEW packages will be installed:\n  " + " ".join(sorted(new)))
    print(f"0 upgraded, {len(new)} newly installed, 0 to remove and 0 not upgraded.")
    return 0
