"""Removing OSDs on three hosts through plan and apply keeps every placement group:
each OSD is drained (`safe-to-destroy` polled) before it is stopped and destroyed, one
at a time, while the lab's Ceph takes its time to re-replicate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_lab import Lab, stack_copy, start, stop

pytestmark = pytest.mark.ansible

SDG = ("      - {node: %s, device: /dev/sdg, device_class: ssd}\n")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    work = tmp_path / "work"
    work.mkdir()
    base = stack_copy(work / "lab.yaml")
    handle = start(tmp_path / "home", work, "--from", str(base))
    try:
        yield handle
    finally:
        stop(handle)


def test_removing_osds_on_every_host_waits_for_recovery(lab: Lab) -> None:
    assert lab.cli("lab", "faults", "--ceph-recovery-s", "8").returncode == 0
    def drop(text: str) -> str:
        for node in ("pve01", "pve02", "pve03"):
            assert SDG % node in text
            text = text.replace(SDG % node, "")
        return text
    stack = stack_copy(lab.work / "lab-fewer-osds.yaml", drop)
    proc = lab.cli("apply", str(stack), "--auto-approve", "--prune", "--allow-destroy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    health = json.loads(lab.node_cli("pve01", "ceph", "health", "--format", "json").stdout)
    assert health["status"] == "HEALTH_OK", health
    tree = json.loads(lab.node_cli("pve01", "pvesh", "get", "/nodes/pve01/ceph/osd", "--output-format",
                                   "json").stdout)
    hosts = {h["name"]: len(h["children"]) for h in tree["root"]["children"][0]["children"]}
    assert hosts == {"pve01": 5, "pve02": 5, "pve03": 5}
