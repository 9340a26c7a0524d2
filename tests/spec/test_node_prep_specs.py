"""Stack values that node preparation hands to pveceph/pvecm are checked where the
stack is written: the Ceph release must be one PVE offers, the qnetd host an IP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _validate(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    stack = tmp_path / "stack.yaml"
    stack.write_text(text)
    return subprocess.run([sys.executable, "-m", "provision", "validate", str(stack)], capture_output=True,
                          text=True, timeout=120, check=False)


def _lab() -> str:
    return (REPO / "stacks" / "lab.yaml").read_text()


def test_a_ceph_release_pve_does_not_offer_is_an_error(tmp_path: Path) -> None:
    text = _lab().replace("  release: reef ", "  release: tentacle ")
    assert "release: tentacle" in text
    proc = _validate(tmp_path, text)
    line = next(i for i, t in enumerate(text.splitlines(), start=1) if "release: tentacle" in t)
    assert proc.returncode == 1
    assert f"stack.yaml:{line}:" in proc.stdout + proc.stderr
    assert "Ceph tentacle is not offered for PVE 8" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_qdevice_host_must_be_an_ip_address(tmp_path: Path) -> None:
    text = _lab().replace("\nceph:\n", "\nquorum:\n  qdevice: {host: qnetd.example.com}\n\nceph:\n", 1)
    proc = _validate(tmp_path, text)
    assert proc.returncode == 1
    assert "QDevice host 'qnetd.example.com' is not an IP address" in proc.stdout + proc.stderr
    ok = _validate(tmp_path, text.replace("qnetd.example.com", "192.168.10.5"))
    assert "is not an IP address" not in ok.stdout + ok.stderr
