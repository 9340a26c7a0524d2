"""``dpkg-query -W --showformat='${Status}' PKG...`` on a lab node or an external host: whether a
package is installed, as dpkg prints it ("install ok installed"; exit 1 and "no packages
found matching" for one that never was). Same caller rules as ``apt-get``."""

from __future__ import annotations

import sys

from provision.lab.cli.apt_get import target
from provision.lab.cli.common import fail
from provision.lab.ops import packages


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")]
    if "-W" not in argv or not names:
        fail("dpkg-query: the lab only simulates -W --showformat='${Status}' PKG...", 2)
    with target(["dpkg-query", *argv]) as (store, who):
        have = packages.installed(store, who)
    rc = 0
    for name in names:
        if name in have:
            sys.stdout.write("install ok installed")
        else:
            print(f"dpkg-query: no packages found matching {name}", file=sys.stderr)
            rc = 1
    return rc
