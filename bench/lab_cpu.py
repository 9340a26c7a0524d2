"""The lab server's own CPU: per API request, and while idle.

The lab stands in for a PVE cluster in every benchmark; when it spends tens of
milliseconds of CPU per request it, not pve-provision, sets the pace. These functions
read the server process's CPU time (``/proc/<pid>/stat``, user + system) around a batch
of real HTTPS requests, or around a quiet interval, so `make bench` can put "lab CPU per
request" and "lab idle CPU" next to its other figures.

    PROVISION_HOME=... .venv/bin/python bench/lab_cpu.py LAB [requests per path]

Nothing is asserted; speed never goes into tests.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from provision.discover.client import ApiClient
from provision.discover.endpoint import from_lab
from provision.lab.paths import LabPaths

_TICK = os.sysconf("SC_CLK_TCK")


def server_pid(lab: str) -> int:
    """The pid of a running lab's API server."""
    return int(LabPaths.for_name(lab).pid.read_text().split()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


@dataclass(frozen=True)
class PathCost:
    path: str
    requests: int
    cpu_ms: float  # server CPU per request
    wall_ms: float  # client wall time per request (sequential)


def request_cost(lab: str, paths: Iterable[str], repeat: int = 20) -> list[PathCost]:
    """Server CPU and wall time per GET of each path, `repeat` sequential requests each.
    The CPU figure includes the HA loop's share of the interval (it runs in the same
    process): measure on an idle lab."""
    client = ApiClient.for_endpoint(from_lab(lab))
    pid = server_pid(lab)
    out: list[PathCost] = []
    for path in paths:
        base, params = _split(path)
        client.get(base, params, optional=True)  # warm: connection, caches
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        for _ in range(repeat):
            client.get(base, params, optional=True)
        wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
        out.append(PathCost(path, repeat, cpu * 1000 / repeat, wall * 1000 / repeat))
    return out


def idle_cpu(lab: str, seconds: float = 10.0) -> float:
    """Cores the lab server uses while nobody talks to it (0.3 = 30% of one core)."""
    pid = server_pid(lab)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)


def single_object_paths(node: str = "pve01", sid: str = "vm:1000", storage: str = "ceph-vm",
                        group: str = "g0", osd: int = 0) -> list[str]:
    """GETs of one object each, the kind a per-object refresh (one GET per managed object)
    makes; plus the list GETs discovery makes, for comparison."""
    return [
        f"/cluster/ha/resources/{sid}",
        f"/cluster/ha/groups/{group}",
        f"/storage/{storage}",
        f"/nodes/{node}/network/bond0",
        f"/nodes/{node}/ceph/osd/{osd}/metadata",
        "/cluster/status",
        "/cluster/ha/resources",
        "/cluster/resources?type=vm",
        f"/nodes/{node}/network",
        f"/nodes/{node}/ceph/osd",
    ]


def _split(path: str) -> tuple[str, dict[str, str]]:
    base, _, query = path.partition("?")
    return base, dict(p.split("=", 1) for p in query.split("&") if p)


def report(costs: Sequence[PathCost]) -> str:
    lines = [f"{'path':<45} {'cpu ms/req':>10} {'wall ms/req':>11}"]
    lines += [f"{c.path:<45} {c.cpu_ms:>10.2f} {c.wall_ms:>11.2f}" for c in costs]
    lines.append(f"{'median':<45} {statistics.median(c.cpu_ms for c in costs):>10.2f} "
                 f"{statistics.median(c.wall_ms for c in costs):>11.2f}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    lab = argv[0] if argv else "default"
    repeat = int(argv[1]) if len(argv) > 1 else 20
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"idle: {idle_cpu(lab, 10.0):.3f} cores")
    print(report(request_cost(lab, single_object_paths(), repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
