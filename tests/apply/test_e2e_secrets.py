"""A secret the plan needs but cannot read stops apply before anything changes,
names the object that needs it, and leaves no lock behind."""

from __future__ import annotations

import json
import subprocess

import pytest
from e2e_lab import PROVISION, REPO, Lab

pytestmark = [pytest.mark.e2e]


def test_missing_secret_stops_before_any_change(lab: Lab) -> None:
    env = {k: v for k, v in lab.env.items() if k != "PBS_PASSWORD"}
    proc = subprocess.run([*PROVISION, "apply", str(REPO / "stacks" / "lab.yaml"), "--auto-approve"],
                          cwd=lab.work, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1
    assert 'storage["pbs-backup"] password: environment variable PBS_PASSWORD is not set' in proc.stderr
    assert "nothing was changed" in proc.stderr and "Traceback" not in proc.stderr
    status = json.loads(lab.node_cli("pve01", "pvesh", "get", "/cluster/status", "--output-format", "json").stdout)
    assert [s["type"] for s in status] == ["node"]  # still a standalone node: nothing ran
    pools = json.loads(lab.node_cli("pve01", "pvesh", "get", "/pools", "--output-format", "json").stdout)
    assert pools == []  # the cluster lock was released
    assert lab.runs() == []  # nothing ran, so no run record
    assert not (lab.home / "locks").exists() or list((lab.home / "locks").iterdir()) == []
