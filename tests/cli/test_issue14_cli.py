"""Issue 14 items 9 and 10 that need no lab: the real `provision` CLI in a subprocess
(stdout and stderr are pipes, as in CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "stacks" / "lab.yaml"


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update({"PROVISION_HOME": str(tmp_path / "home"), "NO_COLOR": "1"})
    return subprocess.run([sys.executable, "-m", "provision", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_simulate_tables_do_not_wrap_without_a_terminal(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "simulate", str(STACK), "--fail", "pve01")
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "│ vm:102 " in line]
    assert len(rows) == 1
    assert "stays on pve03: highest priority online node in restricted group db (priority 2)" in rows[0]
