"""The no-op `provision plan` of two source trees, under the same load: before and after.

    PATH=.venv/bin:$PATH .venv/bin/python bench/compare_cli.py OLD_TREE [--size 32:12:2000] [--runs 5]

On a shared machine the load average moves by a factor of ten within minutes, so figures
taken in different runs of bench/scale.py do not compare. This builds one lab converged
with the bench stack (bench/big_stack.py), with 20 ms latency, and the replay of it
(bench/replay.py), then runs `python -m provision plan` from OLD_TREE (e.g. a
`git worktree add /tmp/old COMMIT`) and from this tree alternately, `--runs` times each
on both servers: the medians (wall, and CPU of the process: user + system) are taken
under the same load. Both trees are byte-compiled first, as installed.
Nothing is asserted; speed never goes into tests.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from big_stack import synth_stack  # noqa: E402
from bytecode import compile_installed  # noqa: E402
from replay import Replay  # noqa: E402
from scale import Lab, load, parse_sizes  # noqa: E402


def one_plan(tree: Path, env: dict[str, str], stack: Path, lab: str) -> tuple[float, float]:
    """Wall and CPU seconds of one `python -m provision plan` run from `tree`."""
    env = dict(env, PYTHONPATH=str(tree))
    start = time.perf_counter()
    # cwd: `python -m` puts the working directory first on sys.path, before PYTHONPATH
    proc = subprocess.Popen([sys.executable, "-m", "provision", "plan", str(stack), "--lab", lab, "--format",
                             "json"], env=env, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if os.waitstatus_to_exitcode(status) not in (0, 2):
        raise SystemExit(f"{tree}: provision plan failed: {err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def compare(trees: dict[str, Path], env: dict[str, str], stack: Path, lab: str, runs: int) -> dict[str, str]:
    walls: dict[str, list[float]] = {k: [] for k in trees}
    cpus: dict[str, list[float]] = {k: [] for k in trees}
    loads = []
    for _ in range(runs):
        for name, tree in trees.items():
            wall, cpu = one_plan(tree, env, stack, lab)
            walls[name].append(wall)
            cpus[name].append(cpu)
            loads.append(load())
    return {name: f"wall {statistics.median(walls[name]):.2f} s, CPU {statistics.median(cpus[name]):.2f} s"
            for name in trees} | {"load": f"{min(loads):.1f}-{max(loads):.1f}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path, help="the source tree to compare with (its `provision/` package)")
    parser.add_argument("--size", type=parse_sizes, default=parse_sizes("32:12:2000"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the lab still goes down
    trees = {"before": args.old.resolve(), "after": BENCH.parent}
    compile_installed(tree / "provision" for tree in trees.values())
    size = args.size[0]
    with tempfile.TemporaryDirectory(prefix="pvp-bench-compare-") as tmp:
        root = Path(tmp)
        lab = Lab(root / "home", "compare")
        stack = root / "stack.yaml"
        stack.write_text(synth_stack(size, lab="compare"))
        lab.cli("lab", "up", "--name", "compare", "--from", str(stack))
        try:
            lab.cli("lab", "faults", "--name", "compare", "--latency-ms", str(args.latency_ms))
            print(f"{size.label}, {args.latency_ms:g} ms latency, median of {args.runs}, runs alternating")
            print(f"lab:    {compare(trees, lab.env, stack, 'compare', args.runs)}", flush=True)
            rhome = root / "replay"
            with Replay(lab.dir, args.latency_ms) as replay:
                env = dict(os.environ, PROVISION_HOME=str(replay.home(rhome, "compare")))
                for tree in trees.values():
                    one_plan(tree, env, stack, "compare")  # record what each asks
                replay.replay()
                print(f"replay: {compare(trees, env, stack, 'compare', args.runs)}; misses "
                      f"{replay.stats()['misses']}", flush=True)
        finally:
            lab.cli("lab", "down", "--name", "compare")
    return 0


if __name__ == "__main__":
    sys.exit(main())
