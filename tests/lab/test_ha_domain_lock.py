"""HA configuration edits take pmxcfs's cluster-wide ``domain-ha`` lock, as PVE's do
(``PVE::HA::Config::lock_ha_domain`` over ``PVE::Cluster::cfs_lock_domain``; sources in
docs/lab-contract.md, "Cluster-wide locks"): `ha-manager add` on several nodes at once all
succeed, one after the other; one that waits 10 s for a lock held elsewhere fails with
PVE's message and exit 255; a lock held past pmxcfs's 120 s is taken over."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from labkit import LabHandle

SIDS = ("vm:100", "vm:101", "vm:102", "ct:200")


@pytest.fixture(scope="module")
def lab(lab_from_stack: LabHandle) -> LabHandle:
    """stacks/lab.yaml built in a lab of its own (`lab up --from`, seconds)."""
    return lab_from_stack


def _sids(lab: LabHandle) -> set[str]:
    return {r["sid"] for r in lab.get("/cluster/ha/resources")}


def _lock(lab: LabHandle) -> Path:
    """What pmxcfs shows while another node's `ha-manager` holds the lock: its directory."""
    path = lab.root / "cfs-locks" / "domain-ha"
    path.mkdir(parents=True)
    return path


def test_concurrent_adds_on_different_nodes_all_succeed(lab: LabHandle) -> None:
    for sid in SIDS:
        lab.node("pve01", "ha-manager", "remove", sid)
    assert not _sids(lab) & set(SIDS)
    procs = [subprocess.Popen([str(lab.root / "bin" / "ha-manager"), "add", sid, "--comment", f"from {node}"],
                              env=lab.env(node), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for sid, node in zip(SIDS, ("pve01", "pve02", "pve03", "pve01"), strict=True)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert all(code == 0 for code, _ in results), results
    assert _sids(lab) >= set(SIDS)  # no edit lost another's resource
    assert not (lab.root / "cfs-locks" / "domain-ha").exists()


def test_an_add_that_waits_out_the_lock_fails_as_pve_does(lab: LabHandle) -> None:
    lab.node("pve01", "ha-manager", "remove", "vm:101")
    held = _lock(lab)
    try:
        p = lab.node("pve02", "ha-manager", "add", "vm:101", check=False)
    finally:
        os.rmdir(held)
    assert p.returncode == 255
    lines = p.stderr.splitlines()
    assert lines[-1] == "create resource failed: cfs-lock 'domain-ha' error: got lock request timeout"
    assert set(lines[:-1]) == {"trying to acquire cfs lock 'domain-ha' ..."} and len(lines) > 1
    assert "vm:101" not in _sids(lab)
    lab.node("pve02", "ha-manager", "add", "vm:101")  # the lock is free again
    assert "vm:101" in _sids(lab)


def test_a_lock_held_past_its_lifetime_is_taken_over(lab: LabHandle) -> None:
    lab.node("pve01", "ha-manager", "remove", "vm:102")
    held = _lock(lab)
    old = time.time() - 121
    os.utime(held, (old, old))
    p = lab.node("pve03", "ha-manager", "add", "vm:102", check=False)
    assert p.returncode == 0, p.stderr
    assert "vm:102" in _sids(lab)
    assert not held.exists()
