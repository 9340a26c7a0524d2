"""CephFS in the what-if: a file system whose only metadata server fails is offline (the
lab and real Ceph report MDS_ALL_DOWN), and so is every storage on it; with a standby it
stays available (issue 14, item 7)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _simulate(stack: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "provision", "simulate", str(stack), *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_single_mds_failure_takes_cephfs_and_its_storage_offline(tmp_path: Path) -> None:
    text = (REPO / "stacks" / "lab.yaml").read_text()
    single = tmp_path / "single-mds.yaml"
    single.write_text(text.replace("  mdss: [pve01, pve02]", "  mdss: [pve01]"))
    proc = _simulate(single, "--fail", "pve01", "--format", "json", "--fail-on", "unavailable")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    step = json.loads(proc.stdout)["scenarios"][0]["steps"][-1]
    (fs,) = step["ceph"]["filesystems"]
    assert (fs["name"], fs["state"], fs["mds_up"], fs["storages"]) == ("cephfs", "blocked", [], ["cephfs"])
    assert "MDS_ALL_DOWN" in fs["reason"]
    assert step["ceph"]["state"] == "blocked"


def test_a_standby_mds_keeps_cephfs_available_through_any_single_failure() -> None:
    proc = _simulate(REPO / "stacks" / "lab.yaml", "--each-node", "--fail-on", "unavailable")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    one = _simulate(REPO / "stacks" / "lab.yaml", "--fail", "pve01", "--format", "json")
    fs = json.loads(one.stdout)["scenarios"][0]["steps"][-1]["ceph"]["filesystems"][0]
    assert (fs["state"], fs["mds_up"]) == ("degraded", ["pve02"])
