"""Byte-compile what a timed command imports, as an installation leaves it.

pip compiles a wheel's modules when it installs them, so a user's `provision` never
compiles its imports. With `PYTHONDONTWRITEBYTECODE` set (it is, in these sessions,
and `make venv` then leaves the virtualenv's packages without bytecode) every timed run
would compile pydantic, typer, rich and this project again: more CPU than the run itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path


def compile_installed(trees: Iterable[Path]) -> None:
    """`compileall` the given source trees and this interpreter's site-packages."""
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    site = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    for tree in [*map(str, trees), *sorted(site)]:
        subprocess.run([sys.executable, "-m", "compileall", "-q", tree], env=clean, check=False,
                       stdout=subprocess.DEVNULL)
