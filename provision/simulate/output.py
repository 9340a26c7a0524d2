"""The versioned JSON document of a simulate run (``--format json``).

One source of truth for machines: CI jobs read ``scenarios[].status`` or the per-step
details. The layout is documented in ``docs/simulate.md``; ``format_version`` changes
only when a key is renamed or removed or its meaning changes (adding keys does not).
"""

from __future__ import annotations

from typing import Any

from provision.simulate.engine import Report, ScenarioResult, StepResult

__all__ = ["FORMAT", "FORMAT_VERSION", "report_json", "summary"]

FORMAT = "pve-provision/simulate"
FORMAT_VERSION = 1


def summary(result: ScenarioResult) -> dict[str, Any]:
    """The matrix row of a scenario, taken from its worst step (``--each-node``)."""
    step = result.worst_step
    q = step.membership.quorate
    ceph = step.ceph
    return {
        "quorate": q is not None,
        "quorum": f"{q.votes}/{q.expected}" if q is not None else None,
        "ha_lost": sorted(s.sid for s in step.services if s.action == "lost"),
        "ha_moved": sorted(
            s.sid for s in step.services if s.before != s.after and s.action in ("recovered", "moved",
                                                                                  "relocated-stopped")
        ),
        "ceph": None if ceph is None else ceph.worst,
        "capacity_warnings": sum(len(load.warnings) for load in step.loads),
        "status": result.status,
    }


def _step(step: StepResult) -> dict[str, Any]:
    member = step.membership
    first = member.partitions[0] if member.partitions else None
    ceph = step.ceph
    return {
        "events": list(step.events),
        "status": step.status,
        "quorum": {
            "expected_votes": first.expected if first else None,
            "threshold": first.threshold if first else None,
            "quorate_partition": sorted(member.quorate.nodes) if member.quorate else None,
            "partitions": [
                {
                    "nodes": sorted(p.nodes),
                    "votes": p.votes,
                    "node_votes": p.node_votes,
                    "qdevice_votes": p.qdevice_votes,
                    "quorate": p.quorate,
                    "reason": p.reason,
                }
                for p in member.partitions
            ],
            "down": list(member.down),
            "fencing": dict(sorted(step.fencing.items())),
            "warnings": list(member.warnings),
        },
        "ha": [
            {
                "sid": s.sid,
                "state": s.state,
                "before": s.before,
                "after": s.after,
                "running_before": s.running_before,
                "running_after": s.running_after,
                "action": s.action,
                "reason": s.reason,
            }
            for s in step.services
        ],
        "guests_down": [{"sid": sid, "node": node} for sid, node in step.guests_down],
        "ceph": None
        if ceph is None
        else {
            "state": ceph.worst,
            "mons": {
                "configured": list(ceph.mons.configured),
                "up": list(ceph.mons.up),
                "quorate": ceph.mons.quorate,
                "reason": ceph.mons.reason,
            },
            "pools": [
                {
                    "name": p.name,
                    "size": p.size,
                    "min_size": p.min_size,
                    "osd_hosts": p.osd_hosts,
                    "failed_hosts": p.failed_hosts,
                    "worst_pg_replicas": p.worst_replicas,
                    "state": p.state,
                    "after_backfill": p.after_backfill,
                    "reason": p.reason,
                }
                for p in ceph.pools
            ],
            "filesystems": [
                {"name": f.name, "mds": list(f.mds_configured), "mds_up": list(f.mds_up),
                 "storages": list(f.storages), "state": f.state, "reason": f.reason}
                for f in ceph.filesystems
            ],
            "capacity": {
                "osds": ceph.capacity.osds,
                "failed_osds": ceph.capacity.failed_osds,
                "backfill": ceph.capacity.backfill,
                "max_used_before": ceph.capacity.max_used_before,
                "used_after": ceph.capacity.used_after,
                "warning": ceph.capacity.warning,
                "text": ceph.capacity.text,
            },
        },
        "capacity": [
            {
                "node": load.node,
                "memory_mib": load.memory_mib,
                "cores": load.cores,
                "memory_mib_before": load.memory_before,
                "cores_before": load.cores_before,
                "capacity_memory_mib": load.capacity_memory_mib,
                "capacity_cores": load.capacity_cores,
                "guests": list(load.guests),
                "warnings": load.warnings,
            }
            for load in step.loads
        ],
        "unavailable": list(step.unavailable),
        "degraded": list(step.degraded),
    }


def report_json(report: Report) -> dict[str, Any]:
    """The whole report as plain JSON data."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cluster": report.cluster,
        "source": report.source,
        "each_node": report.each_node,
        "assumptions": list(report.assumptions),
        "warnings": list(report.warnings),
        "initial": [
            {"sid": s.sid, "state": s.state, "node": s.node, "origin": s.origin} for s in report.initial
        ],
        "scenarios": [
            {
                "name": r.scenario.name,
                "status": r.status,
                "summary": summary(r),
                "steps": [_step(s) for s in r.steps],
                "unavailable": list(r.unavailable),
                "degraded": list(r.degraded),
            }
            for r in report.scenarios
        ],
    }
