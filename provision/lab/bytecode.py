"""Compile the project's modules once when a lab starts, so node CLIs start fast.

Every node CLI call (`pvesh`, `pveceph`, `ha-manager`, ...) is a fresh Python process,
and an apply makes hundreds of them. Where Python may not write bytecode caches
(`PYTHONDONTWRITEBYTECODE=1`, common in containers and CI images) each of those
processes compiled every module it imports from source again: measured at ~0.3 s of
CPU per call out of ~0.42 s for `pvesh get /cluster/status`. Python still *reads*
existing caches under that setting, so writing them once here (py_compile writes
regardless of it) cuts each call to its real work. Nothing changes in what the commands
do; files that are already up to date are only stat-ed; an installation that cannot
be written (a read-only site-packages, which pip compiled at install time) is left as
it is.
"""

from __future__ import annotations

import compileall
import contextlib
import io
from pathlib import Path

import provision


def precompile() -> bool:
    """Write missing or stale bytecode caches of the `provision` package; True when the
    whole package compiled (a failure only means slower node CLIs, never an error)."""
    root = Path(provision.__file__).parent
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return bool(compileall.compile_dir(str(root), quiet=2, workers=1))
        except OSError:
            return False
