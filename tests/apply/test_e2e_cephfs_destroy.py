"""Issue 11 item 7: removing a CephFS from a built cluster. Ceph's `fs rm` (inside
`pveceph fs destroy`) refuses while an MDS serves the file system, and `pveceph fs destroy`
exits 0 all the same (tests/lab/test_ceph_workers.py shows both in the lab). The plan
takes the file system's ranks down with `ceph fs fail` first (the MDS daemons the stack
keeps stay as standbys), then destroys it with its pools, after its storage is gone."""

from __future__ import annotations

import json
import re

import pytest
from e2e_lab import Lab

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]


def _without_cephfs(text: str) -> str:
    out = re.sub(r"^  filesystems:\n(    - .*\n)+", "", text, flags=re.M)
    out = re.sub(r"^  - \{name: cephfs, type: cephfs.*\n", "", out, flags=re.M)
    assert "filesystems" not in out and "type: cephfs" not in out and "mdss:" in out
    return out


def _get(lab: Lab, path: str) -> object:
    p = lab.node_cli("pve01", "pvesh", "get", path, "--output-format", "json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_removing_a_cephfs_fails_its_mds_ranks_then_destroys_it(built_lab: Lab) -> None:
    stack = built_lab.work / "nofs.yaml"
    stack.write_text(_without_cephfs((built_lab.work / "base.yaml").read_text()))
    mdss = sorted(m["name"] for m in _get(built_lab, "/nodes/pve01/ceph/mds"))  # type: ignore[attr-defined]
    assert mdss

    plan = built_lab.cli("plan", str(stack), "--prune", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    steps = [(a["kind"], a["address"]) for a in json.loads(plan.stdout)["actions"]]
    assert steps == [("storage_remove", 'storage["cephfs"]'), ("ceph_fs_fail", 'ceph.fs["cephfs"]'),
                     ("ceph_fs_destroy", 'ceph.fs["cephfs"]')]

    p = built_lab.cli("apply", str(stack), "--prune", "--allow-destroy", "--auto-approve")
    assert p.returncode == 0, p.stdout + p.stderr
    assert _get(built_lab, "/nodes/pve01/ceph/fs") == []
    pools = {x["pool_name"] for x in _get(built_lab, "/nodes/pve01/ceph/pool")}  # type: ignore[attr-defined]
    assert not {"cephfs_data", "cephfs_metadata"} & pools
    after = {m["name"]: m["state"] for m in _get(built_lab, "/nodes/pve01/ceph/mds")}  # type: ignore[attr-defined]
    assert sorted(after) == mdss and set(after.values()) == {"up:standby"}  # the daemons stay, idle
    assert built_lab.cli("plan", str(stack), "--prune", "--detailed-exitcode").returncode == 0
