"""Stopping an apply, against a blank lab through the real CLI and real HTTP: the lock
over a flaky API, declining the prompt, and signals while Ansible runs (CI cancel:
SIGTERM; SSH drop: SIGHUP; Ctrl-C: SIGINT).

What must hold after a signal, each checked through the real thing: both locks are
free (the lab's /pools and the local lock file), no file anywhere we can look at holds
the PBS password (run directory, $PROVISION_HOME, the working directory, /dev/shm,
Ansible's temp dirs), a run record exists, and its report is truthful: an action it
calls done is gone from a fresh plan, one it calls never started is still in it, and
one stopped part-way says how far it got.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from e2e_lab import PROVISION, SECRET, Lab, stack_copy

from provision.apply import record
from provision.apply.lock import POOL_ID, ApplyLock, LockReleaseError, ProxmoxerPools
from provision.apply.workflow import unlock_command
from provision.discover import ProxmoxerTransport, from_lab

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]


@pytest.fixture(scope="module")
def stack(lab: Lab) -> Path:
    return stack_copy(lab.work / "lab.yaml")


def _pools_json(lab: Lab) -> list[dict[str, str]]:
    out = lab.node_cli("pve01", "pvesh", "get", "/pools", "--output-format", "json")
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout))


def _lock(lab: Lab, stack: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> ApplyLock:
    monkeypatch.setenv("PROVISION_HOME", str(lab.home))
    pools = ProxmoxerPools(ProxmoxerTransport(from_lab("default")).api)
    return ApplyLock(pools, "lab", lab.home, unlock=unlock_command(stack), **kw)  # type: ignore[arg-type]


def _faults(lab: Lab, rate: float) -> None:
    proc = lab.cli("lab", "faults", "--api-error-rate", str(rate), "--seed", "7")
    assert proc.returncode == 0, proc.stderr


def test_lock_is_taken_and_released_over_an_api_failing_a_quarter_of_calls(
        lab: Lab, stack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = _lock(lab, stack, monkeypatch)
    _faults(lab, 0.25)
    try:
        for attempt in range(8):
            lock.acquire(f"plan-{attempt}")
            lock.release()
    finally:
        _faults(lab, 0.0)
    assert _pools_json(lab) == []
    assert not lock.file.exists()


def test_a_lock_that_cannot_be_released_names_the_command_that_releases_it(
        lab: Lab, stack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = _lock(lab, stack, monkeypatch, delays=(0.1, 0.1))
    info = lock.acquire("plan-x")
    _faults(lab, 1.0)
    try:
        with pytest.raises(LockReleaseError) as err:
            lock.release()
    finally:
        _faults(lab, 0.0)
    command = f"provision apply {stack} --force-unlock {info.id}"
    assert command in str(err.value)
    assert [p["poolid"] for p in _pools_json(lab)] == [POOL_ID]
    proc = lab.cli(*command.split()[1:])  # exactly what the message says
    assert proc.returncode == 0, proc.stderr
    assert f"Released lock {info.id}" in proc.stdout
    assert _pools_json(lab) == []


def test_a_stored_plan_is_shown_before_the_prompt_and_no_changes_nothing(lab: Lab, stack: Path) -> None:
    planfile = lab.work / "plan.json"
    assert lab.cli("plan", str(stack), "--out", str(planfile)).returncode == 0
    master, slave = pty.openpty()
    try:
        os.write(master, b"no\n")
        proc = subprocess.run([*PROVISION, "apply", str(planfile)], cwd=lab.work, env=lab.env, stdin=slave,
                              capture_output=True, text=True, timeout=300, check=False)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 1
    assert "Apply cancelled." in proc.stderr
    assert "cluster_create" in proc.stdout
    assert proc.stdout.index("cluster_create") < proc.stdout.index("action(s) to the cluster?"), proc.stdout
    assert lab.runs() == [] and _pools_json(lab) == []


def _changed_action_events(run: Path) -> int:
    """Changed task results of plan actions recorded so far (the run is under way)."""
    path = run / "events.jsonl"
    if not path.exists():
        return 0
    count = 0
    for line in path.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line being written
        task = str((event.get("event_data") or {}).get("task") or "")
        if event.get("event") == "runner_on_ok" and task.startswith("Action ") and "changed:" in str(
                event.get("stdout") or ""):
            count += 1
    return count


def _apply_then_signal(lab: Lab, stack: Path, signum: int, after_changes: int) -> subprocess.CompletedProcess[str]:
    """Start `provision apply`, wait until Ansible has changed something, send `signum`."""
    before = set(lab.runs())
    proc = subprocess.Popen([*PROVISION, "apply", str(stack), "--auto-approve", "--quiet"], cwd=lab.work,
                            env=lab.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            new = [r for r in lab.runs() if r not in before]
            if new and _changed_action_events(new[-1]) >= after_changes:
                proc.send_signal(signum)
                break
            time.sleep(0.2)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _planned(lab: Lab, stack: Path) -> set[tuple[str, str]]:
    out = lab.work / "replan.json"
    proc = lab.cli("plan", str(stack), "--out", str(out), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return {(a["kind"], a["address"]) for a in json.loads(out.read_text())["actions"]}


def _secret_files(roots: list[Path]) -> list[Path]:
    hits: list[Path] = []
    for root in roots:
        if root.is_dir():
            hits += record.find_secrets(root, [SECRET])
    return hits


def _check_stopped_run(lab: Lab, stack: Path, proc: subprocess.CompletedProcess[str], name: str) -> None:
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert f"interrupted ({name})" in proc.stdout, proc.stdout[-2000:]
    # both locks are free
    assert _pools_json(lab) == []
    locks = lab.home / "locks"
    assert not locks.exists() or list(locks.iterdir()) == []
    # no secret left on disk
    ansible_tmp = Path(os.environ.get("HOME", "/root")) / ".ansible" / "tmp"
    assert _secret_files([lab.home, lab.work, Path("/dev/shm"), ansible_tmp]) == []
    # a run record with a truthful report
    run = lab.runs()[-1]
    summary = lab.summary(run)
    assert summary["status"] == "canceled" and not summary["ok"]
    actions = summary["actions"]
    planned = {a["id"]: (a["kind"], a["address"]) for a in json.loads((run / "plan.json").read_text())["actions"]}
    assert set(actions["done"]) | set(actions["partial"]) | set(actions["not_done"]) | set(actions["failed"]) \
        == set(planned)
    assert actions["done"] or actions["partial"], "the run was stopped after a change"
    assert set(summary["partial_progress"]) == set(actions["partial"])
    assert actions["not_done"], "the run was stopped early, so something never started"
    remaining = _planned(lab, stack)
    # A step with no change of its own (the SSH trust a join needs: the API cannot show
    # authorized_keys) is planned for as long as the change it prepares is pending; since
    # network reloads run side by side, a stop after two changes can land between a trust
    # and its join. Any other done action planned again would be a false report.
    steps = {a["id"] for a in json.loads((run / "plan.json").read_text())["actions"] if not a.get("changes")}
    again = {planned[a] for a in actions["done"]} & remaining
    prepared = {(kind, address) for kind, address in again
                if any(address == other and kind != other_kind for other_kind, other in remaining)}
    assert again <= prepared and all(a in steps for a in actions["done"] if planned[a] in again), again
    assert {planned[a] for a in actions["not_done"]} <= remaining


def test_sigterm_mid_apply_releases_locks_and_leaves_no_secret(lab: Lab, stack: Path) -> None:
    proc = _apply_then_signal(lab, stack, signal.SIGTERM, after_changes=1)
    _check_stopped_run(lab, stack, proc, "SIGTERM")


def test_sighup_mid_apply_releases_locks_and_leaves_no_secret(lab: Lab, stack: Path) -> None:
    proc = _apply_then_signal(lab, stack, signal.SIGHUP, after_changes=2)
    _check_stopped_run(lab, stack, proc, "SIGHUP")


def test_ctrl_c_mid_apply_is_reported_the_same_way(lab: Lab, stack: Path) -> None:
    proc = _apply_then_signal(lab, stack, signal.SIGINT, after_changes=3)
    _check_stopped_run(lab, stack, proc, "Ctrl-C")


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _runner_dirs(run: Path) -> list[Path]:
    """ansible-runner's private artifact directories of this run (`<tmp>/<plan id>/`)."""
    plan_id = run.name.split("-", 1)[1]
    return [p for p in Path("/dev/shm").glob("pve-provision-*") if (p / plan_id).exists()]


def test_even_sigkill_leaves_no_secret_in_ansible_runners_files(lab: Lab, stack: Path) -> None:
    """SIGKILL cannot be handled: the locks stay (and --force-unlock releases them), but
    ansible-runner's `command` file, which holds the whole environment, is gone before
    ansible-playbook starts, and nothing else it or Ansible writes holds a secret."""
    before = set(lab.runs())
    proc = subprocess.Popen([*PROVISION, "apply", str(stack), "--auto-approve", "--quiet"], cwd=lab.work,
                            env=lab.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    orphans: list[int] = []
    try:
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:
            new = [r for r in lab.runs() if r not in before]
            if new and _changed_action_events(new[-1]) >= 1:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the apply ended before it could be killed"
        orphans = _children(proc.pid)  # ansible-playbook, in its own session
        proc.kill()
        proc.wait()
        shm = _runner_dirs(lab.runs()[-1])
        assert shm, "ansible-runner's private directory is expected to be left behind by SIGKILL"
        assert _secret_files([*shm, lab.home, lab.work]) == []
    finally:
        for pid in orphans:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        for leftover in _runner_dirs(lab.runs()[-1]) if lab.runs() else []:
            shutil.rmtree(leftover, ignore_errors=True)
    held = lab.home / "locks" / "lab.lock"
    assert held.exists()  # SIGKILL: nothing could release it
    lock_id = json.loads(held.read_text().split(" ", 2)[2])["id"]
    unlock = lab.cli("apply", str(stack), "--force-unlock", lock_id)
    assert unlock.returncode == 0, unlock.stderr
    assert _pools_json(lab) == [] and not held.exists()
