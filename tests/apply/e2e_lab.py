"""Helpers for the end-to-end tests and the benchmark: a blank lab in a temp
PROVISION_HOME, the real `provision` CLI in a subprocess, run records on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PROVISION = [sys.executable, "-m", "provision"]
SECRET = "e2e-PBS-secret-7c1f"


@dataclass
class Lab:
    home: Path
    work: Path  # cwd of every apply; state (runs, local lock) goes to `home`, never here
    secrets: dict[str, str] = field(default_factory=dict)  # more secret variables for the CLI

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "PROVISION_HOME": str(self.home), "PBS_PASSWORD": SECRET, "NO_COLOR": "1",
                **self.secrets}

    def cli(self, *args: str, timeout: float = 900, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*PROVISION, *args], cwd=self.work, env=self.env, capture_output=True, text=True,
                              timeout=timeout, input=stdin if stdin is not None else "", check=False)

    @property
    def lab_dir(self) -> Path:
        return self.home / "labs" / "default"

    def runs(self) -> list[Path]:
        root = self.home / "runs"  # runs/<cluster>/<run>
        return sorted(root.glob("*/*"), key=lambda p: p.name) if root.exists() else []

    def summary(self, run: Path) -> dict[str, Any]:
        return json.loads((run / "summary.json").read_text())

    def with_base(self, name: str, text: str) -> Path:
        """A stack in the work dir: the module's `base.yaml` followed by `text`."""
        path = self.work / name
        path.write_text((self.work / "base.yaml").read_text() + text)
        return path

    def etc(self, name: str, node: str = "pve02") -> str:
        """A file of /etc/pve as `node` sees it."""
        return (self.lab_dir / "nodes" / node / "root/etc/pve" / name).read_text()

    def node_cli(self, node: str, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a lab node command as that node (what an admin at its shell would do)."""
        env = {**self.env, "PVE_LAB_DIR": str(self.lab_dir), "PVE_LAB_NODE": node,
               "PATH": f"{self.lab_dir / 'bin'}:{os.environ['PATH']}"}
        return subprocess.run(list(argv), env=env, capture_output=True, text=True, check=False, timeout=120)


def start(home: Path, work: Path, *up_args: str, secrets: dict[str, str] | None = None) -> Lab:
    """`provision lab up` (blank unless `up_args` say otherwise, e.g. `--from STACK`)."""
    lab = Lab(home=home, work=work, secrets=dict(secrets or {}))
    proc = lab.cli("lab", "up", *(up_args or ("--blank",)), timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"lab up failed: {proc.stdout}{proc.stderr}")
    return lab


def stop(lab: Lab) -> None:
    lab.cli("lab", "down", timeout=120)


def stack_copy(dst: Path, edit: Any = None) -> Path:
    """stacks/lab.yaml copied (with an optional text edit) next to the runs."""
    text = (REPO / "stacks" / "lab.yaml").read_text()
    if edit is not None:
        text = edit(text)
    dst.write_text(text)
    return dst


@contextmanager
def converged(home: Path, work: Path, edit: Any = None) -> Iterator[Lab]:
    """A lab converged (`lab up --from`) with stacks/lab.yaml after `edit`, taken down on
    exit: the start of a module whose tests apply what the edit left out."""
    lab = start(home, work, "--from", str(stack_copy(work / "base.yaml", edit)))
    try:
        yield lab
    finally:
        stop(lab)


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects of `--format json` output or an events.jsonl, one per line."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
