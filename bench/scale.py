"""Plan time and request count vs cluster size: pve-provision against the per-object
refresh baseline, on the lab and on a replay of the lab's answers (issue #17).

    .venv/bin/python bench/scale.py                 # every size up to 32 nodes / 384 OSDs / 2,000 HA
    .venv/bin/python bench/scale.py --smoke         # the smallest size, one run each (make bench-smoke)
    .venv/bin/python bench/scale.py --sizes 3:2:10,8:12:500 --runs 5 --latency-ms 20 --out bench/results

For each size (bench/big_stack.py): a lab converged with the stack (``lab up --from``)
with ``--latency-ms`` on every request; then, each as the median of ``--runs``:

- ``provision plan`` (the real CLI, a process per run) of the converged stack: wall time,
  requests (counted by the replay server), peak RSS;
- discovery + plan in this process (the stack already loaded): wall time, requests;
- the baseline (bench/refresh.py): one GET per managed object, 10 in flight;
- the lab's CPU per request (its server process, idle CRM loop subtracted);
- the plan of the same stack with ``--changes`` HA resources edited (K actions);

then the same three clients against bench/replay.py serving the answers recorded from
the lab with the same latency. Every figure carries the 1-minute load average taken
when it was measured. Results: ``--out``/scale.json, scale.md, scale.png (bench/report.py).
Nothing is asserted; tests never time things.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from big_stack import Size, synth_stack  # noqa: E402
from bytecode import compile_installed  # noqa: E402
from refresh import object_paths, refresh  # noqa: E402
from replay import Replay  # noqa: E402
from report import write_all  # noqa: E402

from provision.discover.client import ApiClient  # noqa: E402
from provision.discover.discover import discover  # noqa: E402
from provision.discover.endpoint import from_lab  # noqa: E402
from provision.plan import make_plan  # noqa: E402
from provision.plan.workflow import api_workers  # noqa: E402
from provision.spec import Cluster, load_stack  # noqa: E402

PROVISION = str(Path(sys.executable).parent / "provision")
#: 3 nodes up to the size pve-provision is sized for; 12 OSDs and ~62 HA resources per node.
SIZES = [Size(3, 12, 188), Size(8, 12, 500), Size(16, 12, 1000), Size(32, 12, 2000)]
SMOKE = [Size(3, 2, 10)]
CLK = os.sysconf("SC_CLK_TCK")


def load() -> float:
    return round(os.getloadavg()[0], 2)


def figure(value: float, ndigits: int = 3) -> dict[str, float]:
    """A measured number with the load average at the time it was taken."""
    return {"value": round(value, ndigits), "load": load()}


def median_of(runs: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(runs))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its threads (/proc/PID/stat fields 14, 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


class Lab:
    """One lab converged with a stack, via the real CLI, in the bench's PROVISION_HOME."""

    def __init__(self, home: Path, name: str) -> None:
        self.home, self.name = home, name
        self.env = dict(os.environ, PROVISION_HOME=str(home))
        self.dir = home / "labs" / name

    def cli(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([PROVISION, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        if proc.returncode not in (0, 2):
            raise SystemExit(f"provision {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}"
                             f"{proc.stderr[-2000:]}")
        return proc

    def pid(self) -> int:
        return int((self.dir / "server.pid").read_text().split()[0])

    def idle_cpu_rate(self, seconds: float = 2.0) -> float:
        """CPU seconds per second the lab burns with no request (its HA loop)."""
        before = cpu_seconds(self.pid())
        time.sleep(seconds)
        return (cpu_seconds(self.pid()) - before) / seconds


def cli_plan(env: dict[str, str], stack: Path, lab: str) -> tuple[float, int, dict[str, Any]]:
    """One ``provision plan --format json`` process: wall seconds, peak RSS (KiB), the plan."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen([PROVISION, "plan", str(stack), "--lab", lab, "--format", "json"], env=env,
                                stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        if proc.returncode not in (0, 2):
            raise SystemExit(f"provision plan {stack} failed ({proc.returncode}): {err[-2000:]}")
        out.seek(0)
        doc: dict[str, Any] = json.loads(out.read())
    return wall, usage.ru_maxrss, doc


def in_process(desired: Cluster, stack: Path, lab: str) -> tuple[float, int]:
    """Discovery + plan in this process (what the CLI does after loading the stack)."""
    client = ApiClient.for_endpoint(from_lab(lab))
    start = time.perf_counter()
    found = discover(client, hint_nodes=desired.node_names, workers=api_workers(),
                     read_report=desired.quorum.qdevice is not None)
    make_plan(desired, found.cluster, found.observed, stack=str(stack))
    return time.perf_counter() - start, found.requests


def baseline(paths: list[str], lab: str) -> tuple[float, int, int]:
    got = refresh(ApiClient.for_endpoint(from_lab(lab)), paths)
    return got.seconds, got.requests, got.failed


class Client:
    """The three clients, pointed at one PROVISION_HOME (the lab's, or the replay's)."""

    def __init__(self, home: Path, lab: str, desired: Cluster, stack: Path, paths: list[str]) -> None:
        self.home, self.lab, self.desired, self.stack, self.paths = home, lab, desired, stack, paths
        self.env = dict(os.environ, PROVISION_HOME=str(home))

    def __enter__(self) -> Client:
        self._saved = os.environ.get("PROVISION_HOME")
        os.environ["PROVISION_HOME"] = str(self.home)  # from_lab() reads the lab's connection there
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            os.environ["PROVISION_HOME"] = self._saved

    def cli(self) -> tuple[float, int, dict[str, Any]]:
        return cli_plan(self.env, self.stack, self.lab)

    def inproc(self) -> tuple[float, int]:
        return in_process(self.desired, self.stack, self.lab)

    def refresh(self) -> tuple[float, int, int]:
        return baseline(self.paths, self.lab)


def measure_clients(c: Client, runs: int, on_request: Callable[[], int] | None = None) -> dict[str, Any]:
    """Medians of the three clients; ``on_request`` reads a server-side counter."""
    out: dict[str, Any] = {}
    cli_times, rss, cli_requests = [], 0, 0
    for _ in range(runs):
        before = on_request() if on_request else 0
        wall, peak, doc = c.cli()
        cli_times.append(wall)
        rss = max(rss, peak)
        cli_requests = (on_request() - before) if on_request else 0
        out["cli_actions"] = len(doc.get("actions", []))
    out["cli_plan_s"] = figure(statistics.median(cli_times))
    out["cli_peak_rss_mib"] = figure(rss / 1024, 1)
    if on_request:
        out["cli_requests"] = cli_requests
    inproc = [c.inproc() for _ in range(runs)]
    out["discover_plan_s"] = figure(statistics.median(t for t, _ in inproc))
    out["discover_requests"] = inproc[-1][1]
    ref = [c.refresh() for _ in range(runs)]
    out["refresh_s"] = figure(statistics.median(t for t, _, _ in ref))
    out["refresh_requests"] = ref[-1][1]
    out["refresh_failed"] = ref[-1][2]
    return out


def measure(size: Size, root: Path, runs: int, latency_ms: float, changes: int, index: int) -> dict[str, Any]:
    name = f"bench{index}"
    lab = Lab(root / "home", name)
    stack = root / f"stack-{index}.yaml"
    stack.write_text(synth_stack(size, lab=name))
    changed = root / f"stack-{index}-changed.yaml"
    changed.write_text(synth_stack(size, lab=name, changes=changes))
    desired = load_stack(stack).cluster
    paths = object_paths(desired)
    row: dict[str, Any] = {"size": size.label, "nodes": size.nodes, "osds": size.osds, "ha": size.ha,
                           "pools": size.pools, "storages": size.storages, "objects": len(paths),
                           "stack_bytes": stack.stat().st_size, "latency_ms": latency_ms, "runs": runs}
    print(f"{size.label}: lab up --from ({row['stack_bytes'] // 1024} kB stack)", file=sys.stderr, flush=True)
    start = time.perf_counter()
    lab.cli("lab", "up", "--name", name, "--from", str(stack))
    row["lab_seed_s"] = figure(time.perf_counter() - start, 1)
    try:
        lab.cli("lab", "faults", "--name", name, "--latency-ms", str(latency_ms))
        idle = lab.idle_cpu_rate()
        row["lab_idle_cpu"] = figure(idle)
        with Client(lab.home, name, desired, stack, paths) as c:
            pid = lab.pid()
            cpu0, t0 = cpu_seconds(pid), time.perf_counter()
            row["lab"] = measure_clients(c, runs)
            cpu, took = cpu_seconds(pid) - cpu0, time.perf_counter() - t0
            served = runs * (row["lab"]["discover_requests"] * 2 + row["lab"]["refresh_requests"])
            row["lab_cpu_ms_per_request"] = figure(max(cpu - idle * took, 0.0) * 1000 / served, 1)
            wall, _, doc = cli_plan(c.env, changed, name)
            row["changed"] = {"changes": changes, "actions": len(doc.get("actions", [])), "cli_plan_s": figure(wall)}
        with tempfile.TemporaryDirectory(dir=root) as rhome, Replay(lab.dir, latency_ms) as replay, \
                Client(replay.home(Path(rhome), name), name, desired, stack, paths) as c:
            c.cli(), c.inproc(), c.refresh()  # record every GET the three make
            replay.replay()
            row["recorded_answers"] = replay.stats()["answers"]
            row["replay"] = measure_clients(c, runs, on_request=lambda: replay.stats()["requests"])
            row["replay_misses"] = replay.stats()["misses"]
        row["lab"]["cli_requests"] = row["replay"]["cli_requests"]  # the same GETs, counted at the server
    finally:
        lab.cli("lab", "down", "--name", name)
    for where in ("lab", "replay"):
        r = row[where]
        r["requests_ratio"] = round(r["refresh_requests"] / max(r["discover_requests"], 1), 1)
        r["time_ratio_cli"] = round(r["refresh_s"]["value"] / r["cli_plan_s"]["value"], 2)
        r["time_ratio_discover_plan"] = round(r["refresh_s"]["value"] / r["discover_plan_s"]["value"], 2)
    return row


def parse_sizes(text: str) -> list[Size]:
    """``NODES:OSDS_PER_NODE:HA[,...]``"""
    out = []
    for part in text.split(","):
        nodes, osds, ha = (int(x) for x in part.split(":"))
        out.append(Size(nodes, osds, ha))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, help="NODES:OSDS_PER_NODE:HA,... (default: 3 to 32 nodes)")
    parser.add_argument("--smoke", action="store_true", help="the smallest size, one run (proves the bench runs)")
    parser.add_argument("--runs", type=int, help="runs per figure, the median is reported (default 3; smoke 1)")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--changes", type=int, default=10, help="HA resources edited in the changed stack")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    # a terminated bench still takes its labs down (the finally clauses run on SystemExit)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # the CLI is timed as installed, with compiled bytecode (bytecode.py)
    compile_installed([BENCH.parent / "provision"])
    sizes = args.sizes or (SMOKE if args.smoke else SIZES)
    runs = args.runs or (1 if args.smoke else 3)
    changes = min(args.changes, min(s.ha for s in sizes))
    rows = []
    with tempfile.TemporaryDirectory(prefix="pvp-bench-scale-") as tmp:
        root = Path(tmp)
        (root / "home").mkdir()
        for i, size in enumerate(sizes):
            rows.append(measure(size, root, runs, args.latency_ms, changes, i))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    result = {"cpus": os.cpu_count(), "latency_ms": args.latency_ms, "runs": runs, "rows": rows,
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load_at_end": load()}
    args.out.mkdir(parents=True, exist_ok=True)
    for path in write_all(result, args.out, "smoke" if args.smoke else "scale"):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
