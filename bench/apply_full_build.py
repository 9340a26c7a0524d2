"""Measure `provision apply` against a blank 3-node lab (real CLI, Ansible, lab).

    .venv/bin/python bench/apply_full_build.py [--json] [--out DIR] [--keep DIR]
    .venv/bin/python bench/apply_full_build.py --nodes 32 --osds-per-node 12 --ha 2000 [--timeout 900]

Issue #17's apply targets, each measured from the run record apply writes
(``runs/<cluster>/<run>/summary.json`` and ``events.jsonl``):

1. the full build of stacks/lab.yaml from a blank lab (target < 30 s);
2. a one-field change afterwards, an HA resource's max_relocate (target <= 3 tasks on
   one host);
3. a no-op apply of the same stack (target 0 tasks).

For each: plan actions, tasks that ran, how many of them were ``command`` tasks (a
process start on the node each) and their median duration, skipped host-task events
(a task imported into a play over every host and skipped by ``when`` on all but one),
the hosts tasks ran on, the wall time of the whole command and of the Ansible part,
with the load average. Nothing is asserted; tests never time things.

With ``--nodes N`` it measures only the full build of a synthetic stack instead
(bench/big_stack.py: N nodes, OSDs per node, H HA resources with their guests) on a lab
of that stack's machines freshly installed (``lab up --blank --from``; issue #17's target
for 32 nodes / 384 OSDs / 2,000 HA is under 15 min). A build still running after
``--timeout`` seconds is stopped (SIGTERM, as an operator's Ctrl-C) and reported as far
as it got: the plays and actions done, the phase it was in.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "apply"))
sys.path.insert(0, str(REPO / "bench"))

import e2e_lab  # noqa: E402

COMMAND = ("command", "shell", "ansible.builtin.command", "ansible.builtin.shell")
RAN = ("runner_on_ok", "runner_on_failed", "runner_on_unreachable")


def events(run: Path) -> dict[str, Any]:
    """Counts from a run's events: command tasks, skips, hosts."""
    commands: list[float] = []
    skipped, hosts = 0, set()
    path = run / "events.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for line in lines:
        event = json.loads(line)
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_skipped":
            skipped += 1
        elif event.get("event") in RAN:
            hosts.add(str(data.get("host")))
            if data.get("task_action") in COMMAND or data.get("resolved_action") in COMMAND:
                commands.append(float(data.get("duration") or 0.0))
    return {
        "command_tasks": len(commands),
        "command_median_s": round(statistics.median(commands), 2) if commands else None,
        "skipped_host_task_events": skipped,
        "hosts": sorted(hosts),
        "phase_s": phase_seconds(lines),
    }


def phase_seconds(lines: list[str]) -> dict[str, float]:
    """Wall seconds per plan phase: from each play's start to the next play's (or the
    last event), summed over the phase's plays (`Phase network (part 2 of 3): ...`)."""
    starts: list[tuple[str, datetime]] = []
    last: datetime | None = None
    for line in lines:
        event = json.loads(line)
        last = datetime.fromisoformat(event["created"]) if event.get("created") else last
        if event.get("event") == "playbook_on_play_start" and last is not None:
            name = str((event.get("event_data") or {}).get("name", ""))
            starts.append((name.removeprefix("Phase ").split(":")[0].split(" (")[0], last))
    out: dict[str, float] = {}
    for i, (phase, at) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else last
        assert end is not None
        out[phase] = round(out.get(phase, 0.0) + (end - at).total_seconds(), 1)
    return out


def _apply(lab: e2e_lab.Lab, stack: Path, timeout: float = 3600) -> dict[str, Any]:
    before = set(lab.runs())
    cpu_before = _children_cpu()
    start = time.monotonic()
    proc = subprocess.Popen([*e2e_lab.PROVISION, "apply", str(stack), "--auto-approve"], cwd=lab.work,
                            env=lab.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    stopped = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stopped = True
        proc.terminate()  # apply turns SIGTERM into a cancel and still writes its record
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    wall = time.monotonic() - start
    cpu = round(_children_cpu() - cpu_before, 1)
    new = [r for r in lab.runs() if r not in before]
    if stopped:
        return {"command_s": round(wall, 2), "load": round(os.getloadavg()[0], 2), "stopped_after_s": timeout,
                **(_where(new[-1]) if new else {})}
    if proc.returncode != 0:
        raise SystemExit(f"apply failed:\n{out[-3000:]}\n{err[-3000:]}")
    result: dict[str, Any] = {"command_s": round(wall, 2), "cpu_s": cpu, "load": round(os.getloadavg()[0], 2)}
    if not new:  # nothing to do: apply ran no playbook and wrote no run record
        return {**result, "actions": 0, "tasks": 0, "ansible_s": 0.0, "command_tasks": 0,
                "command_median_s": None, "skipped_host_task_events": 0, "hosts": []}
    summary = json.loads((new[-1] / "summary.json").read_text())
    plan = json.loads((new[-1] / "plan.json").read_text()) if (new[-1] / "plan.json").exists() else {}
    tasks = summary.get("tasks") or {}
    return {
        **result,
        "actions": len(plan.get("actions", [])) or len((summary.get("actions") or {}).get("done", [])),
        "tasks": tasks.get("executed"),
        "tasks_changed": tasks.get("changed"),
        "ansible_s": summary.get("wall_seconds"),
        **events(new[-1]),
    }


def _children_cpu() -> float:
    """User + system CPU seconds of every finished child process and, through them, of
    everything they waited for (ansible-playbook, its workers and modules, the lab's node
    CLIs): unlike wall time, it hardly depends on what else the machine runs. Not counted:
    the lab's API server, and processes nobody waits for (a systemd-run timer's sleeper)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _where(run: Path) -> dict[str, Any]:
    """How far a stopped build got: actions in the plan and done, plays started, the last."""
    plan = json.loads((run / "plan.json").read_text()) if (run / "plan.json").exists() else {}
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
    plays = [json.loads(line)["event_data"].get("name", "") for line in
             (run / "events.jsonl").read_text(encoding="utf-8").splitlines()
             if '"playbook_on_play_start"' in line] if (run / "events.jsonl").exists() else []
    return {"actions": len(plan.get("actions", [])),
            "actions_done": len((summary.get("actions") or {}).get("done", [])) if summary else None,
            "plays_started": len(plays), "last_play": plays[-1] if plays else None, **events(run)}


def _big(args: argparse.Namespace) -> dict[str, Any]:
    """The full build of a synthetic cluster from its machines freshly installed."""
    import big_stack

    size = big_stack.Size(args.nodes, args.osds_per_node, args.ha)
    with tempfile.TemporaryDirectory() as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        home.mkdir()
        work.mkdir()
        stack = work / "big.yaml"
        stack.write_text(big_stack.synth_stack(size))
        start = time.monotonic()
        lab = e2e_lab.start(home, work, "--blank", "--from", str(stack), "--nodes", str(args.nodes))
        up = time.monotonic() - start
        try:
            full = _apply(lab, stack, timeout=args.timeout)
        finally:
            if args.keep:
                shutil.copytree(home / "runs", args.keep, dirs_exist_ok=True)
            e2e_lab.stop(lab)
    return {"size": size.label, "lab_up_s": round(up, 1), "full_build": full}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--out", type=Path, help="also write DIR/apply.json")
    parser.add_argument("--keep", type=Path, help="copy the run records (runs/<cluster>/<run>/) to DIR")
    parser.add_argument("--nodes", type=int, help="build a synthetic stack of N nodes instead (big_stack.py)")
    parser.add_argument("--osds-per-node", type=int, default=12, help="with --nodes: OSDs per node (12)")
    parser.add_argument("--ha", type=int, default=2000, help="with --nodes: HA resources (2000)")
    parser.add_argument("--timeout", type=float, default=3600, help="with --nodes: stop the build after SECONDS")
    args = parser.parse_args()
    if args.nodes:
        big = {**_big(args), "cpus": os.cpu_count()}
        doc = json.dumps(big, indent=2) + "\n"
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "apply-big.json").write_text(doc)
        print(doc, end="")
        return
    with tempfile.TemporaryDirectory() as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        home.mkdir()
        work.mkdir()
        lab = e2e_lab.start(home, work)
        try:
            base = e2e_lab.stack_copy(work / "lab.yaml")
            full = _apply(lab, base)
            changed = e2e_lab.stack_copy(work / "lab-one-field.yaml",
                                         lambda t: t.replace("max_relocate: 2", "max_relocate: 3"))
            one = _apply(lab, changed)
            noop = _apply(lab, changed)
        finally:
            if args.keep:
                shutil.copytree(home / "runs", args.keep, dirs_exist_ok=True)
            e2e_lab.stop(lab)
    result: dict[str, dict[str, Any]] = {"full_build": full, "one_field_change": one, "no_op": noop}
    doc = json.dumps({**result, "cpus": os.cpu_count()}, indent=2) + "\n"
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "apply.json").write_text(doc)
    if args.json:
        print(doc, end="")
        return
    for name, r in result.items():
        cmd = f"{r['command_tasks']} command" + (f" (median {r['command_median_s']} s)" if r["command_tasks"] else "")
        print(f"{name:17} {r['actions']:3} actions, {r['tasks']:4} tasks on {len(r['hosts'])} host(s), {cmd}, "
              f"{r['skipped_host_task_events']} skipped host-task events; {r['command_s']:.1f} s command, "
              f"{r['ansible_s']:.1f} s Ansible (load {r['load']:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
