"""Ceph availability (size/min_size per pool, MON quorum, backfill room) and node capacity."""

from __future__ import annotations

import pytest
from sim_builders import guest, make_cluster, osds_on, simulate

from provision.simulate import run
from provision.simulate.ceph import CephResult, PoolState


def ceph_cluster(n: int = 3, *, size: int = 3, min_size: int = 2, mons: list[str] | None = None) -> object:
    names = [f"pve{i:02d}" for i in range(1, n + 1)]
    return make_cluster(
        n,
        ceph={
            "mons": mons if mons is not None else names[:3],
            "osds": osds_on(*names),
            "pools": [{"name": "vm-pool", "size": size, "min_size": min_size}],
        },
    )


def ceph_of(cluster: object, **flags: list[str]) -> CephResult:
    ceph = simulate(cluster, **flags).steps[0].ceph  # type: ignore[arg-type]
    assert ceph is not None
    return ceph


def pool(ceph: CephResult, name: str = "vm-pool") -> PoolState:
    return next(p for p in ceph.pools if p.name == name)


def test_healthy_cluster_is_ok() -> None:
    ceph = ceph_of(ceph_cluster())
    assert ceph.mons.quorate and pool(ceph).state == "ok" and ceph.worst == "ok"


def test_three_two_pool_with_one_host_down_is_degraded() -> None:
    ceph = ceph_of(ceph_cluster(), fail=["pve01"])
    p = pool(ceph)
    assert (p.state, p.worst_replicas) == ("degraded", 2)
    # Only two hosts left for size 3: Ceph cannot heal back to three copies.
    assert p.after_backfill == "degraded"
    assert ceph.mons.quorate


def test_three_two_pool_with_two_hosts_down_is_blocked() -> None:
    # Five nodes with MONs on pve03..pve05, so corosync and MON quorum both survive.
    ceph = ceph_of(ceph_cluster(5, mons=["pve03", "pve04", "pve05"]), fail=["pve01", "pve02"])
    p = pool(ceph)
    assert ceph.mons.quorate
    assert (p.state, p.worst_replicas) == ("blocked", 1)
    assert p.after_backfill == "ok"  # three hosts survive, so size 3 is possible again
    assert "below min_size 2" in p.reason


def test_three_node_cluster_with_two_hosts_down_is_blocked() -> None:
    ceph = ceph_of(ceph_cluster(3), fail=["pve01", "pve02"])
    p = pool(ceph)
    assert (p.state, p.worst_replicas, p.after_backfill) == ("blocked", 1, "blocked")
    assert not ceph.mons.quorate


def test_size_two_min_one_with_one_host_down_is_degraded_not_blocked() -> None:
    ceph = ceph_of(ceph_cluster(size=2, min_size=1), fail=["pve03"])
    p = pool(ceph)
    assert (p.state, p.worst_replicas) == ("degraded", 1)
    assert p.after_backfill == "ok"


def test_losing_mon_quorum_blocks_every_pool() -> None:
    # 5 nodes, MONs on pve01..pve03: failing pve01 and pve02 keeps corosync quorum (3 of 5)
    # but leaves 1 of 3 MONs.
    result = simulate(ceph_cluster(5, size=2, min_size=1), fail=["pve01", "pve02"])  # type: ignore[arg-type]
    ceph = result.steps[0].ceph
    assert ceph is not None and result.steps[0].membership.quorate is not None
    assert not ceph.mons.quorate and ceph.mons.up == ("pve03",)
    assert pool(ceph).state == "blocked" and ceph.worst == "blocked"
    assert any("MONs lost quorum" in m for m in result.unavailable)


def test_cephfs_pools_are_checked_with_pveceph_defaults() -> None:
    cluster = make_cluster(
        3, ceph={"mons": ["pve01"], "osds": osds_on("pve01", "pve02", "pve03"), "filesystems": [{"name": "fs"}]}
    )
    ceph = ceph_of(cluster, fail=["pve03"])
    assert {p.name: (p.size, p.min_size, p.state) for p in ceph.pools} == {
        "fs_data": (3, 2, "degraded"),
        "fs_metadata": (3, 2, "degraded"),
    }


def test_backfill_room_is_stated_and_checked_against_usage() -> None:
    cluster = ceph_cluster(5)
    scenario_result = simulate(cluster, fail=["pve05"])  # type: ignore[arg-type]
    capacity = scenario_result.steps[0].ceph.capacity  # type: ignore[union-attr]
    assert capacity.backfill and (capacity.osds, capacity.failed_osds) == (10, 2)
    assert capacity.max_used_before == pytest.approx(0.9 * 8 / 10)
    assert capacity.warning is None

    from sim_builders import scenario

    full = run(cluster, scenario(cluster, fail=["pve05"]), ceph_used=0.8)  # type: ignore[arg-type]
    cap = full.steps[0].ceph.capacity  # type: ignore[union-attr]
    assert cap.used_after == pytest.approx(1.0)
    assert cap.warning is not None and "backfillfull" in cap.warning
    assert any("backfillfull" in m for m in full.degraded)

    roomy = run(cluster, scenario(cluster, fail=["pve05"]), ceph_used=0.5)  # type: ignore[arg-type]
    assert roomy.steps[0].ceph.capacity.warning is None  # type: ignore[union-attr]


def test_no_backfill_when_too_few_hosts_survive() -> None:
    capacity = ceph_of(ceph_cluster(3), fail=["pve01"]).capacity
    assert not capacity.backfill and capacity.max_used_before is None


# --- node capacity ------------------------------------------------------------------------


def capacity_cluster() -> object:
    return make_cluster(
        3,
        ha={"groups": [{"name": "g", "nodes": {"pve01": 2, "pve02": 1}, "restricted": True}],
            "resources": [{"sid": "vm:100", "group": "g"}, {"sid": "vm:101"}]},
        guests=[
            guest("vm:100", "pve01", memory_mib=48000, cores=8),
            guest("vm:101", "pve02", memory_mib=32000, cores=4),
        ],
        capacity={"pve02": {"memory_mib": 65536, "cores": 10}},
    )


def test_recovered_guest_overcommitting_a_node_is_a_warning() -> None:
    result = simulate(capacity_cluster(), fail=["pve01"])  # type: ignore[arg-type]
    step = result.steps[0]
    load = next(x for x in step.loads if x.node == "pve02")
    assert (load.memory_before, load.memory_mib, load.capacity_memory_mib) == (32000, 80000, 65536)
    assert (load.cores, load.capacity_cores) == (12, 10)
    assert len(load.warnings) == 2 and "overcommit 14464 MiB" in load.warnings[0]
    assert result.status == "degraded" and not result.unavailable


def test_no_warning_when_it_fits() -> None:
    result = simulate(capacity_cluster(), fail=["pve03"])  # type: ignore[arg-type]
    assert all(not x.warnings for x in result.steps[0].loads)
    assert result.status == "ok"
