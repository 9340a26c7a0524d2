"""How long `provision` takes to start: `--help`, and `validate` of a small stack.

    .venv/bin/python bench/startup.py [runs]

Each command runs `runs` times as a fresh process (the console script, as a user runs
it); the median and the fastest wall time are printed with the load average, and the
modules of this project that the command imported (`python -X importtime`), so a command
that starts paying for a package it does not use shows up by name.
Nothing is asserted; speed never goes into tests.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROVISION = str(Path(sys.executable).parent / "provision")
COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "validate": ["validate", str(REPO / "stacks" / "lab.yaml")],
    "plan --help": ["plan", "--help"],
    "apply --help": ["apply", "--help"],
}


@dataclass(frozen=True)
class Startup:
    command: str
    median_s: float
    min_s: float
    runs: int
    packages: tuple[str, ...]  # provision.* packages imported


def start_time(args: list[str], runs: int = 5) -> tuple[float, float]:
    """Median and fastest wall time of `provision ARGS` as a fresh process."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([PROVISION, *args], capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def imported_packages(args: list[str]) -> tuple[str, ...]:
    """The `provision.<package>` modules a command imports."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "provision", *args], capture_output=True,
                          text=True, check=False)
    names = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    return tuple(sorted({".".join(n.split(".")[:2]) for n in names if n.startswith("provision.")}))


def measure(runs: int = 5) -> list[Startup]:
    out = []
    for name, args in COMMANDS.items():
        median, fastest = start_time(args, runs)
        out.append(Startup(name, median, fastest, runs, imported_packages(args)))
    return out


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv else 5
    sys.path.insert(0, str(REPO / "bench"))
    from bytecode import compile_installed

    compile_installed([REPO / "provision"])  # timed as installed: no run compiles its imports
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for s in measure(runs):
        print(f"provision {s.command:<12} median {s.median_s:.3f}s  min {s.min_s:.3f}s  ({s.runs} runs)  "
              f"imports {', '.join(s.packages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
