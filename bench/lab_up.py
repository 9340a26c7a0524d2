"""How long ``provision lab up`` takes (target: under 2 s) and how long ``lab down`` takes.

Runs the real console script in a throw-away PROVISION_HOME, N times, and prints the
median and worst wall-clock times. Usage: ``.venv/bin/python bench/lab_up.py [runs] [nodes]``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROVISION = str(Path(sys.executable).parent / "provision")


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    nodes = sys.argv[2] if len(sys.argv) > 2 else "3"
    ups: list[float] = []
    downs: list[float] = []
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, PROVISION_HOME=home)
        for i in range(runs):
            name = f"bench{i}"
            t0 = time.perf_counter()
            subprocess.run([PROVISION, "lab", "up", "--name", name, "--nodes", nodes], env=env, check=True,
                           capture_output=True)
            ups.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run([PROVISION, "lab", "down", "--name", name], env=env, check=True, capture_output=True)
            downs.append(time.perf_counter() - t0)
    print(f"lab up   ({nodes} nodes, {runs} runs): median {statistics.median(ups):.3f}s  max {max(ups):.3f}s")
    print(f"lab down ({nodes} nodes, {runs} runs): median {statistics.median(downs):.3f}s  max {max(downs):.3f}s")
    return 0 if max(ups) < 2.0 else 1


if __name__ == "__main__":
    sys.exit(main())
