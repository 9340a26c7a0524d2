"""Removing OSDs in the lab as on a real cluster: `ceph osd out` only starts moving the
data; `ok-to-stop` and `safe-to-destroy` (and pve-manager's cmd-safety) say when it has
moved; destroying OSDs on three hosts before that loses placement groups for good."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from labkit import LabHandle, start_lab, stop_lab

STACK = Path(__file__).resolve().parents[2] / "stacks" / "lab.yaml"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabHandle]:
    handle = start_lab(tmp_path / "home", "osdrm", "--from", str(STACK))
    try:
        yield handle
    finally:
        stop_lab(handle)


def _osd_of(lab: LabHandle, node: str, dev: str) -> int:
    disks = lab.get(f"/nodes/{node}/disks/list")
    return int(next(d["osdid"] for d in disks if d["devpath"] == dev))


def _health(lab: LabHandle) -> dict[str, str]:
    h = lab.get("/nodes/pve01/ceph/status")["health"]
    return {"status": h["status"], **{k: c["summary"]["message"] for k, c in h["checks"].items()}}


def test_destroying_without_waiting_loses_placement_groups(lab: LabHandle) -> None:
    lab.lab("faults", "--ceph-recovery-s", "600")
    assert _health(lab)["status"] == "HEALTH_OK"
    for node in ("pve01", "pve02", "pve03"):  # what the old playbook did, host after host
        osd = str(_osd_of(lab, node, "/dev/sdg"))
        lab.node(node, "ceph", "osd", "out", osd)
        busy = lab.node(node, "ceph", "osd", "safe-to-destroy", osd, check=False)
        assert busy.returncode == 16 and "pgs currently mapped to them" in busy.stderr
        api = lab.get(f"/nodes/{node}/ceph/cmd-safety", service="osd", id=osd, action="destroy")
        assert api["safe"] == 0 and "currently mapped" in api["status"]
        lab.node(node, "systemctl", "stop", f"ceph-osd@{osd}.service")
        lab.node(node, "pveceph", "osd", "destroy", osd, "--cleanup", "1")  # PVE itself does not refuse
    health = _health(lab)
    assert health["status"] == "HEALTH_ERR"
    assert "pgs stale" in health["PG_AVAILABILITY"] and "PG_DAMAGED" in health
    stop = lab.node("pve01", "ceph", "osd", "ok-to-stop", str(_osd_of(lab, "pve01", "/dev/sdb")), check=False)
    assert stop.returncode == 16 and "would become offline" in stop.stderr


def test_waiting_for_safe_to_destroy_keeps_every_copy(lab: LabHandle) -> None:
    lab.lab("faults", "--ceph-recovery-s", "0")
    for node in ("pve01", "pve02", "pve03"):
        osd = str(_osd_of(lab, node, "/dev/sdg"))
        lab.node(node, "ceph", "osd", "out", osd)
        assert lab.get(f"/nodes/{node}/ceph/cmd-safety", service="osd", id=osd, action="destroy")["safe"] == 1
        lab.node(node, "ceph", "osd", "safe-to-destroy", osd)
        lab.node(node, "ceph", "osd", "ok-to-stop", osd)
        lab.node(node, "systemctl", "stop", f"ceph-osd@{osd}.service")
        lab.node(node, "pveceph", "osd", "destroy", osd, "--cleanup", "1")
    assert _health(lab) == {"status": "HEALTH_OK"}


def test_an_osd_whose_data_has_nowhere_to_go_never_drains(lab: LabHandle) -> None:
    """Three hosts and size 3: a host's last OSD cannot hand its copies to anyone."""
    lab.lab("faults", "--ceph-recovery-s", "0")
    tree = lab.get("/nodes/pve01/ceph/osd")["root"]["children"][0]["children"]
    pve03 = [str(o["id"]) for h in tree if h["name"] == "pve03" for o in h["children"]]
    for osd in pve03[:-1]:
        lab.node("pve03", "ceph", "osd", "out", osd)
        lab.node("pve03", "ceph", "osd", "safe-to-destroy", osd)
    last = pve03[-1]
    lab.node("pve03", "ceph", "osd", "out", last)
    busy = lab.node("pve03", "ceph", "osd", "safe-to-destroy", last, check=False)
    assert busy.returncode == 16
    lab.node("pve03", "ceph", "osd", "in", last)
    lab.node("pve03", "ceph", "osd", "safe-to-destroy", pve03[0])
