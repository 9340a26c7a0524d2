"""The wheel, as a user gets it: built from this tree, installed into a fresh
virtualenv outside the repository, and used from a directory that is not a checkout.

Without the `lab` extra every command but `provision lab` works and that one says how
to get it; with it, `provision lab up --from` a part of a small stack, `provision apply`
of the whole stack and a re-plan to zero changes all work, with the playbooks found
inside the installed package and every piece of state under $PROVISION_HOME, none in the
working directory.

The lab starts from the small stack without its PBS storage, its HA group and resource
and pve01's VLAN-aware bridge, so the apply runs one action of each of four kinds: the
interfaces edit (the shipped `library/` module and its `module_utils`), a storage with a
secret, an HA group and the batched HA resource add. The templates ship by directory
(pyproject's package-data globs), which these kinds prove; a blank build (cluster create
and joins, tests/apply/test_e2e.py) would add minutes and no file the wheel could lack.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.packaging, pytest.mark.e2e, pytest.mark.ansible]

REPO = Path(__file__).resolve().parents[2]
STACK = Path(__file__).with_name("small.yaml")


def _run(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class Installed:
    venv: Path
    wheel: Path
    work: Path  # not a checkout: the cwd of every command
    home: Path

    def provision(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PROVISION_DEBUG")}
        env.update(PROVISION_HOME=str(self.home), PBS_PASSWORD="packaging-pbs-secret", NO_COLOR="1",
                   PATH=f"{self.venv / 'bin'}:{env.get('PATH', '')}")
        return _run([str(self.venv / "bin" / "provision"), *args], cwd=self.work, env=env, timeout=timeout)

    def pip_install(self, requirement: str) -> None:
        """pip (the test's own, pointed at the venv's interpreter) installs into the venv;
        without byte-compiling, as the venv's first runs compile what they import."""
        proc = _run([sys.executable, "-m", "pip", "--python", str(self.venv / "bin" / "python"), "install",
                     "--quiet", "--disable-pip-version-check", "--no-compile", requirement], cwd=self.work)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _seed(text: str) -> str:
    """The small stack without the parts the test's apply adds (see the module docstring)."""
    pbs, ha, guests = text.index("  - name: pbs-backup"), text.index("\nha:\n"), text.index("\nguests:\n")
    assert pbs < ha < guests
    vlan = "        vlan_aware: true\n        address: 192.168.10.11/24\n"
    assert vlan in text
    return (text[:pbs] + text[guests:]).replace(vlan, "        address: 192.168.10.11/24\n", 1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("packaging")
    assert not root.resolve().is_relative_to(REPO)
    dist = root / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                  "--wheel-dir", str(dist), str(REPO)], cwd=root)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheel = next(dist.glob("pve_provision-*.whl"))
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root)  # pip_install's pip fills it
    assert made.returncode == 0, made.stderr
    work, home = root / "work", root / "home"
    work.mkdir()
    home.mkdir()
    shutil.copy(STACK, work / "stack.yaml")
    (root / "seed.yaml").write_text(_seed(STACK.read_text()))
    yield Installed(venv=venv, wheel=wheel, work=work, home=home)


def test_without_the_lab_extra_only_the_lab_is_missing(installed: Installed) -> None:
    installed.pip_install(str(installed.wheel))
    where = _run([str(installed.venv / "bin" / "python"), "-c", "import provision; print(provision.__file__)"],
                 cwd=installed.work)
    assert where.returncode == 0 and str(installed.venv) in where.stdout, where.stdout + where.stderr
    valid = installed.provision("validate", "stack.yaml")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    lab = installed.provision("lab", "up", "--blank")
    assert lab.returncode == 1
    assert "pip install 'pve-provision[lab]'" in lab.stderr and "Traceback" not in lab.stderr


def test_with_the_lab_extra_apply_builds_the_stack_and_replans_to_zero(installed: Installed) -> None:
    installed.pip_install(f"{installed.wheel}[lab]")
    up = installed.provision("lab", "up", "--from", str(installed.work.parent / "seed.yaml"), timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        applied = installed.provision("apply", "stack.yaml", "--auto-approve", "--quiet")
        assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
        assert applied.stdout.strip().splitlines()[-1].startswith("Apply complete: 4 action(s)"), applied.stdout
        replan = installed.provision("plan", "stack.yaml", "--detailed-exitcode")
        assert replan.returncode == 0, replan.stdout + replan.stderr
    finally:
        installed.provision("lab", "down", timeout=120)
    # state under $PROVISION_HOME, nothing in the working directory
    assert sorted(p.name for p in installed.work.iterdir()) == ["stack.yaml"]
    runs = list((installed.home / "runs").glob("*/*"))
    assert len(runs) == 1 and (runs[0] / "summary.json").is_file()
