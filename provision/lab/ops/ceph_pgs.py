"""Just enough of Ceph's placement groups to make removing OSDs too fast visible.

Real Ceph keeps `size` copies of every placement group on `size` different hosts (the
default CRUSH rule's failure domain). Marking an OSD *out* starts re-replicating its
copies elsewhere, which takes time; destroying it before that finished throws its
copies away, and destroying OSDs on `size` hosts before the cluster recovered loses
every copy of some PGs. The lab models exactly that, at host granularity:

- `ceph osd out N` records when draining began; the OSD is *drained* once the lab's
  recovery time (`lab faults --ceph-recovery-s`, default 2 s) has passed and the other
  hosts with OSDs *in* can still hold every pool's `size` copies.
- `safe-to-destroy` answers EBUSY until the OSD is drained and no PG is degraded;
  `ok-to-stop` answers EBUSY when stopping would leave a PG below `min_size`.
- destroying an undrained OSD loses its host's copies; they come back from the other
  copies after the recovery time, unless copies on `size` hosts are gone at once: those
  PGs are lost for good (`ceph health` reports them stale for ever).

The share of PGs hit is the hypergeometric share of PGs with enough copies on the
affected hosts, so 3 hosts with size 3 lose all PGs and bigger clusters lose some.
"""

from __future__ import annotations

import math
import time
from typing import Any

from provision.lab.store import Store

RECOVERY_S = 2.0
EBUSY = 16


def recovery_s(store: Store) -> float:
    return float(store.get_meta("ceph_recovery_s", RECOVERY_S))


def _pools(store: Store) -> list[Any]:
    return store.query("SELECT name, size, min_size, pg_num FROM ceph_pools ORDER BY id")


def _osd_hosts(store: Store) -> set[str]:
    return {r["host"] for r in store.query("SELECT DISTINCT host FROM ceph_osds")}


def _lost_events(store: Store, now: float) -> list[dict[str, Any]]:
    """Copies thrown away by an early destroy that are still being rebuilt from peers."""
    return [e for e in store.get_meta("ceph_lost_copies", []) or [] if float(e["until"]) > now]


def _share(hosts: int, size: int, hit: int, at_least: int) -> float:
    """Share of PGs (copies on `size` of `hosts` hosts) with `at_least` copies on the `hit` hosts."""
    size = min(size, hosts)
    if hosts <= 0 or size <= 0 or at_least <= 0:
        return 1.0 if at_least <= 0 else 0.0
    total = math.comb(hosts, size)
    good = sum(math.comb(hit, j) * math.comb(hosts - hit, size - j) for j in range(at_least, size + 1))
    return good / total


def mark_out(store: Store, osd: int, out: bool) -> None:
    """`ceph osd out` starts draining; `ceph osd in` stops it (the data moves back)."""
    since: dict[str, float] = dict(store.get_meta("ceph_out_since", {}) or {})
    if out:
        since.setdefault(str(osd), time.time())
    else:
        since.pop(str(osd), None)
    store.set_meta("ceph_out_since", since or None)


def drained(store: Store, osd: Any, now: float) -> bool:
    """The OSD holds no PG any more: out long enough, and the rest can hold every copy."""
    if osd["in_"]:
        return False
    pools = _pools(store)
    if not pools:
        return True
    started = (store.get_meta("ceph_out_since", {}) or {}).get(str(osd["id"]))
    if started is None or float(started) + recovery_s(store) > now:
        return False
    others = {r["host"] for r in store.query("SELECT host FROM ceph_osds WHERE in_ = 1 AND id != ?", (osd["id"],))}
    return len(others) >= max(int(p["size"]) for p in pools)


def _mapped_pgs(store: Store) -> int:
    """PG copies an OSD holds on average (what Ceph's messages count)."""
    n = max(1, len(store.query("SELECT id FROM ceph_osds")))
    return max(1, math.ceil(sum(int(p["pg_num"]) * int(p["size"]) for p in _pools(store)) / n))


def safe_to_destroy(store: Store, osd: Any) -> tuple[int, str]:
    """`ceph osd safe-to-destroy N`: (0 or EBUSY, message) as the manager answers."""
    now = time.time()
    oid = osd["id"]
    if not drained(store, osd, now):
        return EBUSY, f"OSD(s) {oid} have {_mapped_pgs(store)} pgs currently mapped to them. "
    if _lost_events(store, now):
        return EBUSY, (f"OSD(s) {oid} last reported they still store some PG data, and not all PGs are "
                       "active+clean; we cannot be sure they aren't still needed.")
    return 0, f"OSD(s) {oid} are safe to destroy without reducing data durability."


def ok_to_stop(store: Store, osd: Any, up_nodes: set[str]) -> tuple[int, str]:
    """`ceph osd ok-to-stop N`: stopping must leave every PG at least `min_size` copies."""
    now = time.time()
    if drained(store, osd, now):
        return 0, (f"OSD(s) {osd['id']} are ok to stop without reducing availability or risking data, provided "
                   "there are no other concurrent failures or interventions.")
    away = {e["host"] for e in _lost_events(store, now)} | {osd["host"]}
    away |= {r["host"] for r in store.query("SELECT host, running FROM ceph_osds WHERE in_ = 1 AND id != ?",
                                            (osd["id"],)) if not (r["running"] and r["host"] in up_nodes)}
    hosts = len(_osd_hosts(store))
    offline = sum(math.ceil(p["pg_num"] * _share(hosts, p["size"], len(away), p["size"] - p["min_size"] + 1))
                  for p in _pools(store))
    if offline:
        return EBUSY, f"unsafe to stop osd(s) at this time ({offline} PGs are or would become offline)"
    return 0, (f"OSD(s) {osd['id']} are ok to stop without reducing availability or risking data, provided "
               "there are no other concurrent failures or interventions.")


def on_destroy(store: Store, osd: Any) -> None:
    """Destroying an undrained OSD throws its host's copies away (before the row is deleted)."""
    now = time.time()
    was_drained = drained(store, osd, now)
    mark_out(store, osd["id"], False)
    if was_drained:
        return
    hosts = len(_osd_hosts(store))
    events = [*_lost_events(store, now), {"host": osd["host"], "until": now + recovery_s(store)}]
    store.set_meta("ceph_lost_copies", events)
    hit = len({e["host"] for e in events})
    lost: dict[str, int] = dict(store.get_meta("ceph_pgs_lost", {}) or {})
    for p in _pools(store):
        n = math.ceil(p["pg_num"] * _share(hosts, p["size"], hit, p["size"]))
        if n:
            lost[p["name"]] = max(lost.get(p["name"], 0), n)
    store.set_meta("ceph_pgs_lost", lost or None)


def pg_states(store: Store) -> dict[str, int]:
    """PG counts by state: `unknown` (every copy destroyed), degraded, inactive, clean."""
    now = time.time()
    hit = len({e["host"] for e in _lost_events(store, now)})
    hosts = len(_osd_hosts(store)) + hit
    lost = store.get_meta("ceph_pgs_lost", {}) or {}
    out = {"unknown": 0, "undersized+degraded+peered": 0, "active+undersized+degraded": 0, "active+clean": 0}
    for p in _pools(store):
        gone = min(p["pg_num"], int(lost.get(p["name"], 0)))
        inactive = min(p["pg_num"] - gone, math.ceil(
            p["pg_num"] * _share(hosts, p["size"], hit, p["size"] - p["min_size"] + 1))) if hit else 0
        degraded = min(p["pg_num"] - gone - inactive,
                       math.ceil(p["pg_num"] * _share(hosts, p["size"], hit, 1))) if hit else 0
        out["unknown"] += gone
        out["undersized+degraded+peered"] += inactive
        out["active+undersized+degraded"] += max(0, degraded - inactive)
        out["active+clean"] += p["pg_num"] - gone - inactive - max(0, degraded - inactive)
    return {k: v for k, v in out.items() if v}


def checks(store: Store) -> dict[str, tuple[str, str, int]]:
    """Health checks of the PG model: name → (severity, message, count)."""
    st = pg_states(store)
    out: dict[str, tuple[str, str, int]] = {}
    stale = st.get("unknown", 0)
    inactive = st.get("undersized+degraded+peered", 0)
    if stale or inactive:
        parts = [f"{inactive + stale} pgs inactive"] + ([f"{stale} pgs stale"] if stale else [])
        out["PG_AVAILABILITY"] = ("HEALTH_WARN", "Reduced data availability: " + ", ".join(parts), inactive + stale)
    degraded = inactive + st.get("active+undersized+degraded", 0)
    if degraded:
        out["PG_DEGRADED"] = ("HEALTH_WARN", f"Degraded data redundancy: {degraded} pgs degraded", degraded)
    if stale:
        out["PG_DAMAGED"] = ("HEALTH_ERR", f"Possible data damage: {stale} pgs lost with every copy destroyed",
                             stale)
    return out
