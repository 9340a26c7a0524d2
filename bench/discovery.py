"""Discovery against a running lab: requests, wall time, and how many were in flight.

    PROVISION_HOME=... .venv/bin/python bench/discovery.py LAB [runs] [latency ms]

Sets the lab's injected latency (`provision lab faults --latency-ms`, default 20 ms) for
the runs and clears it afterwards, then discovers the lab `runs` times in-process with
the stack's node names as hints (what `provision plan` does) and prints the median. The
floor at that latency is about two round trips: `/cluster/status` first, then every
per-node request at once.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass

from provision.discover.client import ApiClient
from provision.discover.discover import DEFAULT_WORKERS, discover
from provision.discover.endpoint import from_lab
from provision.lab import lifecycle


@dataclass(frozen=True)
class DiscoveryRun:
    requests: int
    median_s: float
    runs: int
    latency_ms: float
    workers: int


def discovery_time(lab: str, runs: int = 5, latency_ms: float = 20.0,
                   workers: int = DEFAULT_WORKERS) -> DiscoveryRun:
    """Median wall time of `runs` discoveries of `lab` with `latency_ms` per request."""
    nodes = lifecycle.Lab.named(lab).connection()["nodes"]
    client = ApiClient.for_endpoint(from_lab(lab))
    lifecycle.faults(lab, error_rate=None, latency_ms=latency_ms, seed=None, fail_once=[], clear=False)
    try:
        times, requests = [], 0
        for _ in range(runs):
            start = time.perf_counter()
            found = discover(client, hint_nodes=nodes, workers=workers, read_report=False)
            times.append(time.perf_counter() - start)
            requests = found.requests
    finally:
        lifecycle.faults(lab, error_rate=None, latency_ms=0.0, seed=None, fail_once=[], clear=False)
    return DiscoveryRun(requests, statistics.median(times), runs, latency_ms, workers)


def main(argv: list[str]) -> int:
    lab = argv[0] if argv else "default"
    runs = int(argv[1]) if len(argv) > 1 else 5
    latency = float(argv[2]) if len(argv) > 2 else 20.0
    r = discovery_time(lab, runs, latency)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"discovery of lab {lab!r}: {r.requests} requests, median {r.median_s * 1000:.0f} ms over {r.runs} runs "
          f"at {r.latency_ms:.0f} ms latency, up to {r.workers} in flight")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
