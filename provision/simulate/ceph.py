"""Ceph after a failure: MON quorum, per-pool availability, and whether backfill fits.

The spec knows pools (size, min_size), MONs and OSD placement, not disk sizes or how full
the cluster is, so the analysis is worst-case and says what it assumes:

- failure domain ``host`` (the default ``replicated_rule``) and PGs spread over every OSD
  host, so with enough PGs *some* PG has a replica on each failed host;
- a Ceph daemon is up only on a powered node inside the quorate corosync partition (a
  node on the losing side of a split is assumed cut off or self-fenced); with no quorate
  partition at all, on every powered node (Ceph keeps its own MON quorum);
- all OSDs are the same size and equally full, for the capacity estimate.

Pool state, from the worst PG's surviving replicas ``r = min(size, hosts) - failed``:
``ok`` when ``r >= size``; ``degraded`` when ``min_size <= r < size`` (I/O continues);
``blocked`` when ``r < min_size`` (I/O stops on those PGs) or the MONs lost quorum.

A CephFS needs one active MDS: with every metadata server of the spec down the file
system is offline (Ceph's MDS_ALL_DOWN, HEALTH_ERR) and so is every storage on it; with
some down but one left, a standby takes over (``degraded`` while it replays the journal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from provision.spec import Cluster

__all__ = [
    "BACKFILLFULL",
    "NEARFULL",
    "CephCapacity",
    "CephResult",
    "FsState",
    "MonState",
    "PoolState",
    "ceph_after",
]

PoolVerdict = Literal["ok", "degraded", "blocked"]

#: Ceph defaults: ``mon_osd_nearfull_ratio`` and ``osd_backfillfull_ratio``.
NEARFULL = 0.85
BACKFILLFULL = 0.90
# pveceph's defaults for pools it creates itself (CephFS data/metadata).
_DEFAULT_SIZE, _DEFAULT_MIN_SIZE = 3, 2

ASSUMPTIONS = (
    "Ceph: failure domain host and PGs spread over all OSD hosts, so the worst PG has a "
    "replica on every failed OSD host",
    "Ceph: daemons count as up only on powered nodes of the quorate corosync partition "
    "(on every powered node when no partition is quorate)",
    "Ceph capacity: all OSDs the same size and equally full (the spec has no disk sizes)",
)


@dataclass(frozen=True)
class MonState:
    """MON quorum: a strict majority of the configured monitors must be up."""

    configured: tuple[str, ...]
    up: tuple[str, ...]
    quorate: bool
    reason: str


@dataclass(frozen=True)
class PoolState:
    """One pool right after the failure, and once Ceph has re-replicated what it can."""

    name: str
    size: int
    min_size: int
    osd_hosts: int
    failed_hosts: int
    worst_replicas: int
    state: PoolVerdict
    after_backfill: PoolVerdict
    reason: str


@dataclass(frozen=True)
class FsState:
    """One CephFS: whether any metadata server is left to serve it, and its storages."""

    name: str
    mds_configured: tuple[str, ...]
    mds_up: tuple[str, ...]
    storages: tuple[str, ...]
    state: PoolVerdict
    reason: str


@dataclass(frozen=True)
class CephCapacity:
    """Whether the survivors can hold the data the failed OSDs held."""

    osds: int
    failed_osds: int
    backfill: bool
    max_used_before: float | None  # highest fill ratio now for which backfill stays < backfillfull
    used_after: float | None  # with --ceph-used: fill ratio of survivors after backfill
    warning: str | None
    text: str


@dataclass(frozen=True)
class CephResult:
    mons: MonState
    pools: tuple[PoolState, ...]
    capacity: CephCapacity
    filesystems: tuple[FsState, ...] = ()

    @property
    def worst(self) -> PoolVerdict:
        states = {p.state for p in self.pools} | {f.state for f in self.filesystems}
        if "blocked" in states or (self.mons.configured and not self.mons.quorate):
            return "blocked"
        return "degraded" if "degraded" in states else "ok"


def _pools(cluster: Cluster) -> list[tuple[str, int, int]]:
    assert cluster.ceph is not None
    pools = [(p.name, p.size, p.min_size) for p in cluster.ceph.pools]
    for fs in cluster.ceph.filesystems:
        pools.append((f"{fs.name}_data", _DEFAULT_SIZE, _DEFAULT_MIN_SIZE))
        pools.append((f"{fs.name}_metadata", _DEFAULT_SIZE, _DEFAULT_MIN_SIZE))
    return pools


def _verdict(replicas: int, size: int, min_size: int) -> PoolVerdict:
    if replicas >= size:
        return "ok"
    return "degraded" if replicas >= min_size else "blocked"


def ceph_after(cluster: Cluster, live: frozenset[str], used: float | None = None) -> CephResult | None:
    """Ceph state when only the nodes in ``live`` run Ceph daemons; None without Ceph.

    ``used`` is the cluster's raw fill ratio before the failure (0..1), if the caller
    knows it; without it the result says up to which fill ratio backfill fits.
    """
    ceph = cluster.ceph
    if ceph is None:
        return None
    mons_up = tuple(m for m in ceph.mons if m in live)
    need = len(ceph.mons) // 2 + 1
    mon_quorate = len(mons_up) >= need if ceph.mons else False
    if not ceph.mons:
        mon_reason = "no monitors in the spec"
    else:
        down = [m for m in ceph.mons if m not in live]
        mon_reason = f"{len(mons_up)} of {len(ceph.mons)} MONs up, need {need}"
        if down:
            mon_reason += f" (down: {', '.join(down)})"
    mons = MonState(tuple(ceph.mons), mons_up, mon_quorate, mon_reason)

    hosts = sorted(ceph.osd_hosts())
    failed_hosts = [h for h in hosts if h not in live]
    surviving = len(hosts) - len(failed_hosts)
    pools: list[PoolState] = []
    for name, size, min_size in _pools(cluster):
        per_pg = min(size, len(hosts))
        worst = per_pg - min(len(failed_hosts), per_pg)
        state = _verdict(worst, size, min_size)
        healed = _verdict(min(size, surviving), size, min_size) if worst > 0 else "blocked"
        parts = [f"{len(failed_hosts)} of {len(hosts)} OSD hosts down: worst PG keeps {worst} of {size} replicas"]
        if per_pg < size:
            parts.append(f"only {len(hosts)} OSD hosts for size {size}, so never more than {per_pg} replicas")
        if state == "blocked" and worst < min_size:
            parts.append(f"below min_size {min_size}: I/O stops on those PGs")
        elif state == "degraded":
            parts.append(f"at least min_size {min_size}: I/O continues")
        if worst == 0 and per_pg > 0:
            parts.append("some PGs have no copy left until a failed host returns")
        elif healed != state:
            parts.append(f"after backfill onto {surviving} surviving hosts: {healed}")
        if not mon_quorate and ceph.mons:
            state = healed = "blocked"
            parts.append("MONs have no quorum: no I/O at all")
        pools.append(
            PoolState(name, size, min_size, len(hosts), len(failed_hosts), worst, state, healed, "; ".join(parts))
        )
    capacity = _capacity(cluster, live, surviving, used)
    return CephResult(mons, tuple(pools), capacity, _filesystems(cluster, live, mon_quorate, pools))


def _filesystems(cluster: Cluster, live: frozenset[str], mon_quorate: bool,
                 pools: list[PoolState]) -> tuple[FsState, ...]:
    assert cluster.ceph is not None
    mdss = tuple(cluster.ceph.mdss)
    up = tuple(m for m in mdss if m in live)
    pool_state = {p.name: p.state for p in pools}
    out: list[FsState] = []
    for fs in cluster.ceph.filesystems:
        storages = tuple(sorted(s.name for s in cluster.storage
                                if s.type == "cephfs" and getattr(s, "fs_name", None) == fs.name))
        down = [m for m in mdss if m not in live]
        if not up:
            state: PoolVerdict = "blocked"
            reason = (f"no metadata server left ({len(mdss)} configured, all down: "
                      f"{', '.join(down) or 'none configured'}): CephFS {fs.name} is offline (MDS_ALL_DOWN)")
        elif down:
            state = "degraded"
            reason = (f"{len(up)} of {len(mdss)} metadata servers up (down: {', '.join(down)}): a standby takes "
                      "over if the active one was lost")
        else:
            state, reason = "ok", f"{len(up)} of {len(mdss)} metadata servers up"
        data_states = {pool_state.get(f"{fs.name}_data"), pool_state.get(f"{fs.name}_metadata")}
        if "blocked" in data_states and state != "blocked":
            state, reason = "blocked", reason + "; its pools are blocked"
        if not mon_quorate and cluster.ceph.mons:
            state, reason = "blocked", reason + "; MONs have no quorum"
        if storages and state == "blocked":
            reason += f"; storage {', '.join(storages)} is unavailable"
        out.append(FsState(fs.name, mdss, up, storages, state, reason))
    return tuple(out)


def _capacity(cluster: Cluster, live: frozenset[str], surviving_hosts: int, used: float | None) -> CephCapacity:
    """Backfill fits when ``used * osds / surviving_osds`` stays below backfillfull.

    Backfill only happens for pools that can put their replicas on other hosts, i.e. when
    at least ``size`` OSD hosts survive; otherwise nothing is copied and nothing fills up.
    """
    assert cluster.ceph is not None
    osds = len(cluster.ceph.osds)
    failed = sum(1 for o in cluster.ceph.osds if o.node not in live)
    pools = _pools(cluster)
    backfill = failed > 0 and any(size <= surviving_hosts for _, size, _ in pools) and failed < osds
    if osds == 0:
        return CephCapacity(0, 0, False, None, None, None, "no OSDs in the spec")
    if failed == 0:
        return CephCapacity(osds, 0, False, None, None, None, "no OSD down: nothing to re-replicate")
    if not backfill:
        return CephCapacity(
            osds, failed, False, None, None, None,
            f"{failed} of {osds} OSDs down; too few OSD hosts left to re-replicate, so nothing is backfilled",
        )
    survivors = osds - failed
    max_used = BACKFILLFULL * survivors / osds
    text = (
        f"{failed} of {osds} OSDs down: their data is re-replicated onto {survivors} OSDs, which fits "
        f"only if the cluster is below {max_used:.0%} raw used now (backfillfull {BACKFILLFULL:.0%})"
    )
    warning = None
    used_after = None
    if used is not None:
        used_after = used * osds / survivors
        if used_after >= BACKFILLFULL:
            warning = (
                f"Ceph: at {used:.0%} used, survivors would reach {used_after:.0%} after backfill, above "
                f"backfillfull {BACKFILLFULL:.0%}: backfill stops and PGs stay degraded"
            )
        elif used_after >= NEARFULL:
            warning = (
                f"Ceph: at {used:.0%} used, survivors reach {used_after:.0%} after backfill (nearfull "
                f"{NEARFULL:.0%})"
            )
        text += f"; at {used:.0%} used now the survivors end at {used_after:.0%}"
    return CephCapacity(osds, failed, True, max_used, used_after, warning, text)
