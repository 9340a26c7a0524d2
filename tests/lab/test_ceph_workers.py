"""Ceph pool and CephFS changes run as worker tasks, as in pve-manager: the API call and
`pveceph pool|fs` succeed with a UPID even when the work fails (the error is the task's
exit status); `pveceph mon|mgr|mds|osd` exit 255 for a failed task. A new MDS becomes a
standby only a while after `pveceph mds create`, and `fs create` needs a standby; `fs
destroy` fails while an MDS serves the file system."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from labkit import LabHandle, start_lab, stop_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    # real-time delays, so "right after mds create" is before the MDS has registered
    lab = start_lab(tmp_path_factory.mktemp("home"), "w", "--nodes", "3", "--pve", "9", "--time-scale", "1")
    try:
        lab.make_cluster()
        for n in ("pve01", "pve02", "pve03"):  # PVE refuses init and daemons before `pveceph install`
            lab.node(n, "pveceph", "install", "--version", "squid", "--repository", "no-subscription")
        lab.node("pve01", "pveceph", "init", "--network", "192.168.10.0/24")
        for n in ("pve01", "pve02", "pve03"):
            lab.node(n, "pveceph", "mon", "create")
            lab.node(n, "pveceph", "osd", "create", "/dev/sdb")
        yield lab
    finally:
        stop_lab(lab)


def _task(lab: LabHandle, upid: str) -> tuple[str, list[str]]:
    node = upid.split(":")[1]
    status = lab.get(f"/nodes/{node}/tasks/{upid}/status")
    assert status["status"] == "stopped"
    return status["exitstatus"], [x["t"] for x in lab.get(f"/nodes/{node}/tasks/{upid}/log")]


def test_pool_create_failure_is_a_failed_task_not_a_failed_call(lab: LabHandle) -> None:
    r = lab.request("POST", "/nodes/pve01/ceph/pool", name="inv", size="2", min_size="3")
    assert r.status_code == 200
    status, log = _task(lab, r.json()["data"])
    assert status == "pool min_size (3) must be between 1 and size (2)"
    assert log[-1] == f"TASK ERROR: {status}"
    assert "inv" not in {p["pool_name"] for p in lab.get("/nodes/pve01/ceph/pool")}
    # pveceph pool create has no $upid_exit: exit 0, the error only on stderr
    p = lab.node("pve01", "pveceph", "pool", "create", "inv", "--size", "2", "--min_size", "3", check=False)
    assert p.returncode == 0 and "must be between 1 and size" in p.stderr
    assert "inv" not in {x["pool_name"] for x in lab.get("/nodes/pve01/ceph/pool")}


def test_pool_set_and_destroy_exit_zero_when_the_task_fails(lab: LabHandle) -> None:
    p = lab.node("pve01", "pveceph", "pool", "set", "nosuch", "--size", "2", check=False)
    assert p.returncode == 0 and "pool 'nosuch' does not exist" in p.stderr
    d = lab.node("pve01", "pveceph", "pool", "destroy", "nosuch", check=False)
    assert d.returncode == 0 and "pool 'nosuch' does not exist" in d.stderr
    lab.node("pve01", "pveceph", "pool", "create", "ok", "--add_storages", "1")
    busy = lab.node("pve01", "pveceph", "pool", "destroy", "ok", check=False)
    assert busy.returncode == 0 and "storage 'ok'" in busy.stderr
    assert "ok" in {x["pool_name"] for x in lab.get("/nodes/pve01/ceph/pool")}


def test_daemon_commands_exit_255_before_or_after_the_fork(lab: LabHandle) -> None:
    dup = lab.node("pve01", "pveceph", "mon", "create", check=False)
    assert dup.returncode == 255 and "already exists" in dup.stderr


def test_cephfs_create_needs_a_standby_mds(lab: LabHandle) -> None:
    none = lab.node("pve01", "pveceph", "fs", "create", check=False)
    assert none.returncode == 255 and none.stderr.strip() == "no running Metadata Server (MDS) found!"
    lab.node("pve03", "pveceph", "mds", "create")
    early = lab.node("pve01", "pveceph", "fs", "create", check=False)  # die before the fork: 255
    assert early.returncode == 255
    assert early.stderr.strip() in ("no running Metadata Server (MDS) found!",
                                    "no standby Metadata Server (MDS) found!")
    assert lab.get("/nodes/pve01/ceph/fs") == []
    lab.wait(lambda: any(m["state"] == "up:standby" for m in lab.get("/nodes/pve01/ceph/mds")), 30,
             "the new MDS to register as standby")
    lab.node("pve01", "pveceph", "fs", "create", "--pg_num", "32")
    assert [f["name"] for f in lab.get("/nodes/pve01/ceph/fs")] == ["cephfs"]
    assert [(m["name"], m["state"]) for m in lab.get("/nodes/pve01/ceph/mds")] == [("pve03", "up:active")]


def test_cephfs_destroy_fails_while_an_mds_serves_it(lab: LabHandle) -> None:
    busy = lab.node("pve01", "pveceph", "fs", "destroy", "cephfs", check=False)
    assert busy.returncode == 0  # no $upid_exit for `pveceph fs destroy`
    assert "all MDS daemons must be inactive/failed before removing filesystem" in busy.stderr
    assert [f["name"] for f in lab.get("/nodes/pve01/ceph/fs")] == ["cephfs"]
    missing = lab.node("pve01", "pveceph", "fs", "destroy", "nosuch", check=False)
    assert missing.returncode == 255 and missing.stderr.strip() == "no such cephfs 'nosuch'"
    lab.lab("fail", "pve03")  # the only MDS goes down with its node
    try:
        lab.node("pve01", "pveceph", "fs", "destroy", "cephfs", "--remove-pools", "1")
        assert lab.get("/nodes/pve01/ceph/fs") == []
        assert not {"cephfs_data", "cephfs_metadata"} & {x["pool_name"] for x in lab.get("/nodes/pve01/ceph/pool")}
    finally:
        lab.lab("recover", "pve03")


def test_ceph_fs_fail_lets_destroy_run_and_the_mds_stays_a_standby(lab: LabHandle) -> None:
    lab.wait(lambda: any(m["state"] == "up:standby" for m in lab.get("/nodes/pve01/ceph/mds")), 30,
             "an MDS to be a standby")
    lab.node("pve01", "pveceph", "fs", "create", "--pg_num", "32")
    missing = lab.node("pve01", "ceph", "fs", "fail", "nosuch", check=False)
    assert missing.returncode == 2 and missing.stderr.strip() == "Error ENOENT: Not found: 'nosuch'"
    failed = lab.node("pve01", "ceph", "fs", "fail", "cephfs")
    assert failed.stderr.strip() == ("cephfs marked not joinable; MDS cannot join the cluster. "
                                     "All MDS ranks marked failed.")
    assert [m["state"] for m in lab.get("/nodes/pve01/ceph/mds")] == ["up:standby"]  # the daemon stays
    assert "MDS_ALL_DOWN" in lab.get("/nodes/pve01/ceph/status")["health"]["checks"]
    done = lab.node("pve01", "pveceph", "fs", "destroy", "cephfs", "--remove-pools", "1")
    assert "must be inactive/failed" not in done.stderr
    assert lab.get("/nodes/pve01/ceph/fs") == []


def test_an_mds_can_be_destroyed_while_its_file_system_exists(lab: LabHandle) -> None:
    # MDS.pm destroymds / Services.pm destroy_mds check no file system: the fs goes offline
    lab.node("pve01", "pveceph", "fs", "create", "--pg_num", "32")
    for m in lab.get("/nodes/pve01/ceph/mds"):
        lab.node(m["host"], "pveceph", "mds", "destroy", m["name"])
    assert lab.get("/nodes/pve01/ceph/mds") == []
    assert "MDS_ALL_DOWN" in lab.get("/nodes/pve01/ceph/status")["health"]["checks"]
    lab.node("pve01", "pveceph", "fs", "destroy", "cephfs", "--remove-pools", "1")
    assert lab.get("/nodes/pve01/ceph/fs") == []
