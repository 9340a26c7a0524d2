"""A real lab's life cycle: ``lab down`` removes every namespace, daemon and file it made,
and ``lab up --real`` refuses in one line where it cannot run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from real_lab import PROVISION, stack_copy, up, workdir

from provision.lab.procs import alive

pytestmark = pytest.mark.e2e


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_down_leaves_nothing() -> None:
    with workdir() as tmp_path:
        _down_leaves_nothing(tmp_path)


def _down_leaves_nothing(tmp_path: Path) -> None:
    stack = stack_copy(tmp_path / "lab.yaml")
    lab = up(tmp_path / "home", tmp_path, "--from", str(stack))
    real = lab.status()["real"]
    namespaces, pids = set(real["namespaces"]), list(real["daemons"].values())
    assert len(namespaces) == 4 and namespaces <= _netns()  # switch + 3 nodes
    assert len(pids) == 3 and all(alive(p) for p in pids)
    assert lab.lab_dir.exists()

    lab.ok("lab", "down")

    assert not namespaces & _netns()
    assert not [p for p in pids if alive(p)]
    assert not lab.lab_dir.exists()


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
