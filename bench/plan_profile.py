"""Where a no-op `provision plan` spends its time, stage by stage, in one fresh process.

    PROVISION_HOME=... .venv/bin/python bench/plan_profile.py STACK LAB [--profile]

The stages of the CLI's own path (`provision.plan.workflow`), each with its wall time and
this process's CPU time (all threads): importing what `provision plan` imports, loading the
stack, discovery's requests (`fetch`: wall minus CPU is the wait for the network and the
server), turning the answers into the model (`assemble`), the plan (diff, order, safety,
digest), the plan document and its JSON. Interpreter start is not in it: `python -c pass`
measures that. With `--profile`, pyinstrument's call tree of the stages after the
imports. Against a lab built with `lab up --from STACK` the plan is empty.
Nothing is asserted; speed never goes into tests.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Stages:
    """(name, wall seconds, CPU seconds) per stage, in order."""

    rows: list[tuple[str, float, float]] = field(default_factory=list)
    requests: int = 0
    actions: int = 0
    profile: str | None = None

    def time(self, name: str, fn: Callable[[], Any]) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        self.rows.append((name, time.perf_counter() - wall, time.process_time() - cpu))
        return out


def plan_stages(stack: Path, lab: str, profile: bool = False) -> Stages:
    s = Stages()

    def imports() -> None:
        import provision.cli.plan  # noqa: F401  (what the command module pulls in)

    s.time("import", imports)
    from provision.cli.common import Format, render_plan
    from provision.discover import ApiClient, Discovery, assemble, fetch, from_lab
    from provision.plan.workflow import Live, api_workers, plan_of
    from provision.spec import load_stack

    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    loaded = s.time("load stack", lambda: load_stack(stack))
    desired = loaded.cluster
    client = ApiClient.for_endpoint(from_lab(lab))
    resp = s.time("fetch", lambda: fetch(client, desired.node_names, api_workers(),
                                         read_report=desired.quorum.qdevice is not None))
    cluster, observed = s.time("assemble", lambda: assemble(resp))
    live = Live(stack=stack, desired=desired, endpoint=from_lab(lab), client=client,
                found=Discovery(cluster, observed, client.requests), loaded=loaded)
    plan = s.time("plan", lambda: plan_of(live))
    document = s.time("document", plan.to_document)
    s.time("render json", lambda: render_plan(document, Format.json))
    if profiler is not None:
        profiler.stop()
        s.profile = profiler.output_text(color=False)
    s.requests, s.actions = client.requests, len(document["actions"])
    return s


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 1
    s = plan_stages(Path(argv[0]), argv[1], profile="--profile" in argv)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {s.requests} requests, "
          f"{s.actions} actions")
    for name, wall, cpu in s.rows:
        print(f"  {name:<12} wall {wall * 1000:7.1f} ms   cpu {cpu * 1000:7.1f} ms")
    total_wall, total_cpu = sum(r[1] for r in s.rows), sum(r[2] for r in s.rows)
    print(f"  {'total':<12} wall {total_wall * 1000:7.1f} ms   cpu {total_cpu * 1000:7.1f} ms")
    if s.profile:
        print(s.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
