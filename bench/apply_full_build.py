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

With ``--nodes N --ha-missing K`` it starts instead from the lab converged with that stack
but its last K HA resources and times adding those (the build's last phase, at its
largest resources.cfg). With ``--nodes N --network-ready`` the blank nodes already have
the stack's interfaces, so the later phases are timed without the network phase.

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
import threading
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
    }


class _LoadSampler:
    """The 1-minute load average every few seconds while a build runs, so each phase's
    wall time carries the load it ran under (the machine is shared)."""

    def __init__(self, every: float = 5.0) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while True:
            self.samples.append((time.time(), os.getloadavg()[0]))
            if self._stop.wait(every):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def phases(run: Path, samples: list[tuple[float, float]], end: float | None = None) -> list[dict[str, Any]]:
    """Per phase of a run (from its events): wall time from its first play's start to the
    next phase's (or to ``end``, when the build ended or was stopped: a long batch task
    reports nothing until it returns), tasks that ran, and the mean load meanwhile."""
    path = run / "events.jsonl"
    if not path.exists():
        return []
    starts: list[tuple[str, float]] = []
    tasks: dict[str, int] = {}
    last = 0.0
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        created = event.get("created")
        if not created:
            continue
        at = datetime.fromisoformat(created).timestamp()
        last = max(last, at)
        if event.get("event") == "playbook_on_play_start":
            name = str((event.get("event_data") or {}).get("name", ""))
            phase = name.split(":", 1)[0].removeprefix("Phase ").split(" (")[0].strip() or name
            if not starts or starts[-1][0] != phase:
                starts.append((phase, at))
        elif event.get("event") in RAN and starts:
            tasks[starts[-1][0]] = tasks.get(starts[-1][0], 0) + 1
    out = []
    for i, (phase, at) in enumerate(starts):
        end_at = starts[i + 1][1] if i + 1 < len(starts) else max(last, end or 0.0)
        loads = [v for t, v in samples if at <= t <= end_at] or [v for t, v in samples if t <= end_at][-1:]
        out.append({"phase": phase, "wall_s": round(end_at - at, 1), "tasks": tasks.get(phase, 0),
                    "load": round(statistics.mean(loads), 1) if loads else None})
    return out


def _apply(lab: e2e_lab.Lab, stack: Path, timeout: float = 3600) -> dict[str, Any]:
    before = set(lab.runs())
    cpu_before = _children_cpu()
    start = time.monotonic()
    sampler = _LoadSampler()
    proc = subprocess.Popen([*e2e_lab.PROVISION, "apply", str(stack), "--auto-approve"], cwd=lab.work,
                            env=lab.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    stopped = False
    try:
        out, err = proc.communicate(timeout=timeout)
        ended = time.time()
    except subprocess.TimeoutExpired:
        stopped = True
        ended = time.time()
        proc.terminate()  # apply turns SIGTERM into a cancel and still writes its record
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    finally:
        sampler.stop()
    wall = time.monotonic() - start
    cpu = round(_children_cpu() - cpu_before, 1)
    new = [r for r in lab.runs() if r not in before]
    by_phase = {"phases": phases(new[-1], sampler.samples, ended)} if new else {}
    if stopped:
        return {"command_s": round(wall, 2), "load": round(os.getloadavg()[0], 2), "stopped_after_s": timeout,
                **(_where(new[-1]) if new else {}), **by_phase}
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
        **by_phase,
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


def _network_ready(lab: e2e_lab.Lab, stack: Path) -> None:
    """Give the blank lab's nodes the stack's interfaces (the lab's own seeding step), so
    the plan has no network phase and the later phases are timed on their own."""
    from provision.lab.paths import LabPaths
    from provision.lab.seed import load, seed_network
    from provision.lab.store import Store

    paths = LabPaths(lab.lab_dir)
    with Store(paths.db) as store:
        seed_network(store, paths, load(stack))


def _without_last_ha(stack: Path, count: int) -> Path:
    """The stack without its last ``count`` HA resources (their guests stay): a lab
    converged with it is the big build just before its last ``count`` HA adds."""
    lines = stack.read_text().splitlines(keepends=True)
    ha = [i for i, line in enumerate(lines) if line.startswith("    - {sid: 'vm:")]
    drop = set(ha[-count:])
    if ha and count >= len(ha):  # all of them: the list stays, empty
        head = ha[0] - 1
        lines[head] = lines[head].rstrip("\n") + " []\n"
    out = stack.with_name("converged-minus-ha.yaml")
    out.write_text("".join(line for i, line in enumerate(lines) if i not in drop))
    return out


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
        if args.ha_missing:
            lab = e2e_lab.start(home, work, "--from", str(_without_last_ha(stack, args.ha_missing)))
        else:
            lab = e2e_lab.start(home, work, "--blank", "--from", str(stack), "--nodes", str(args.nodes))
        if args.network_ready:
            _network_ready(lab, stack)
        up = time.monotonic() - start
        try:
            full = _apply(lab, stack, timeout=args.timeout)
        finally:
            if args.keep:
                shutil.copytree(home / "runs", args.keep, dirs_exist_ok=True)
            e2e_lab.stop(lab)
    return {"size": size.label, "network_ready": args.network_ready, "ha_missing": args.ha_missing,
            "lab_up_s": round(up, 1),
            "full_build": full}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--out", type=Path, help="also write DIR/apply.json")
    parser.add_argument("--keep", type=Path, help="copy the run records (runs/<cluster>/<run>/) to DIR")
    parser.add_argument("--nodes", type=int, help="build a synthetic stack of N nodes instead (big_stack.py)")
    parser.add_argument("--osds-per-node", type=int, default=12, help="with --nodes: OSDs per node (12)")
    parser.add_argument("--ha", type=int, default=2000, help="with --nodes: HA resources (2000)")
    parser.add_argument("--network-ready", action="store_true",
                        help="with --nodes: the blank nodes already have the stack's interfaces (no network phase)")
    parser.add_argument("--ha-missing", type=int, default=0,
                        help="with --nodes: start from the lab converged with the stack but its last K HA resources "
                             "(lab up --from), and time adding those")
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
