"""A real lab's life cycle: ``lab up --real`` refuses in one line where it cannot run.
(That ``lab down`` removes every namespace, daemon and file a real lab made is checked at
the end of test_real_quorum.py's single-link test, on the lab it already brought up.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from real_lab import PROVISION, workdir

pytestmark = pytest.mark.e2e


def test_up_real_without_root_is_one_line() -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run the CLI as an unprivileged user")
    with workdir() as tmp_path:  # not under pytest's 0700 base dir: the unprivileged user must reach it
        _refused_without_root(setpriv, tmp_path)


def _refused_without_root(setpriv: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o777)
    tmp_path.chmod(0o755)
    proc = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *PROVISION, "lab", "up", "--real"],
        env={**os.environ, "PROVISION_HOME": str(home), "HOME": str(home)}, capture_output=True, text=True,
        check=False, timeout=120, cwd=str(home),
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: --real needs root (network namespaces, bridges and mounts)"]
    assert not (home / "labs" / "default").exists()
