"""``systemd-run --unit=NAME --on-active=SECONDS CMD [ARG...]``: a transient timer that runs
CMD on the node once, SECONDS later, unless ``systemctl stop NAME.timer`` cancels it first.

pve-provision uses it for commit-confirm: the node schedules its own network revert before
a reload, so a node that the reload cuts off reverts without help. The lab runs the command
in a detached process that sleeps, then executes it as the node itself (``PVE_LAB_ON_NODE``:
not through the controller's connection); the unit's state file is what ``systemctl`` sees.
Only the options pve-provision uses are accepted (systemd's names and output).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from provision.lab.cli.common import ON_NODE_ENV, fail, node_context


def main(argv: list[str]) -> int:
    if argv[:1] == ["--lab-fire"]:
        return _fire(argv[1])
    unit, seconds, command = None, None, []
    for i, arg in enumerate(argv):
        if arg.startswith("--unit="):
            unit = arg.split("=", 1)[1]
        elif arg.startswith("--on-active="):
            seconds = arg.split("=", 1)[1]
        elif arg in ("--quiet", "-q"):
            continue
        elif arg.startswith("-"):
            fail(f"systemd-run: option {arg} is not simulated by the lab", 1)
        else:
            command = argv[i:]
            break
    if not unit or seconds is None or not command:
        fail("systemd-run: the lab needs --unit=NAME --on-active=SECONDS COMMAND", 1)
    try:
        delay = float(seconds.removesuffix("s"))
    except ValueError:
        fail(f"Failed to parse timer value: {seconds}", 1)
    with node_context(["systemd-run", *argv]) as ctx:
        units = ctx.paths.transient_units(ctx.node)
        units.mkdir(parents=True, exist_ok=True)
        state = units / f"{unit}.timer"
        if state.exists():
            fail(f"Failed to start transient timer unit: Unit {unit}.timer was already loaded or has a fragment "
                 "file.", 1)
        state.write_text(json.dumps({"command": command, "due": time.time() + delay}))
        env = {**os.environ, ON_NODE_ENV: "1"}
        with open(units / f"{unit}.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "provision.lab.cli", "systemd-run", "--lab-fire",
                                     str(state)], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
        state.write_text(json.dumps({"command": command, "due": time.time() + delay, "pid": proc.pid}))
    print(f"Running timer as unit: {unit}.timer", file=sys.stderr)
    print(f"Will run service as unit: {unit}.service", file=sys.stderr)
    return 0


def _fire(state_file: str) -> int:
    """The timer process: wait until due; if the unit still exists, run its command once."""
    path = os.path.abspath(state_file)
    while True:
        try:
            state = json.loads(Path(path).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            time.sleep(0.05)  # the parent rewrites the file with our pid right after start
            if not os.path.exists(path):
                return 0  # stopped
            continue
        left = float(state["due"]) - time.time()
        if left <= 0:
            break
        time.sleep(min(left, 0.5))
    try:
        os.unlink(path)
    except FileNotFoundError:
        return 0  # stopped at the last moment
    return subprocess.run(state["command"], check=False).returncode
