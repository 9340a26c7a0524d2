"""Where a no-op plan spends its time: loading the stack, discovery, planning.

    PROVISION_HOME=... .venv/bin/python bench/plan_profile.py STACK LAB [--profile]

Times each stage in-process against a running lab (a lab built with `lab up --from
STACK` plans to zero actions), and with `--profile` prints pyinstrument's call tree of
discovery and planning, to find what grows faster than the cluster.
Nothing is asserted; speed never goes into tests.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from provision.discover import ApiClient, discover, from_lab
from provision.plan import make_plan
from provision.spec import load_stack


@dataclass(frozen=True)
class PlanStages:
    load_s: float
    discover_s: float
    plan_s: float
    requests: int
    actions: int
    profile: str | None = None


def plan_stages(stack: Path, lab: str, profile: bool = False) -> PlanStages:
    """Load `stack`, discover `lab`, plan: each stage's wall time (and a call tree)."""
    t0 = time.perf_counter()
    desired = load_stack(stack).cluster
    load_s = time.perf_counter() - t0
    client = ApiClient.for_endpoint(from_lab(lab))
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    t0 = time.perf_counter()
    found = discover(client, hint_nodes=desired.node_names, read_report=desired.quorum.qdevice is not None)
    discover_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan = make_plan(desired, found.cluster, found.observed, stack=str(stack))
    plan_s = time.perf_counter() - t0
    text = None
    if profiler is not None:
        profiler.stop()
        text = profiler.output_text(color=False)
    return PlanStages(load_s, discover_s, plan_s, found.requests, len(plan.to_document()["actions"]), text)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 1
    s = plan_stages(Path(argv[0]), argv[1], profile="--profile" in argv)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"load {s.load_s:.2f}s  discover {s.discover_s:.2f}s ({s.requests} requests)  plan {s.plan_s:.2f}s "
          f"({s.actions} actions)")
    if s.profile:
        print(s.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
