"""`provision apply --disarm-ha` on a converged PVE 9 lab (`lab up --from`), through the real
CLI, real Ansible and the lab's HTTP API: HA is disarmed before the first task and armed
again after the last, also when a task fails and when the apply is stopped by SIGTERM;
refused on a PVE 8 stack, over someone else's disarm (which stays as it was) and for an
empty plan; `drift` warns about a disarmed stack and `drill` refuses to run on one."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e_lab import PROVISION, REPO, Lab, start, stop

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

HOME_101 = '{sid: "vm:101"}'


def _stack(lab: Lab, name: str, vm101: str = HOME_101) -> Path:
    text = (REPO / "stacks" / "pve9-example.yaml").read_text()
    text = re.sub(r"connection:\n  api:\n(    .*\n)+", "connection:\n  lab: default\n", text)
    assert HOME_101 in text
    path = lab.work / name
    path.write_text(text.replace(HOME_101, vm101))
    return path


@pytest.fixture(scope="module")
def pve9(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("work")
    lab = Lab(home=tmp_path_factory.mktemp("home"), work=work)
    lab = start(lab.home, work, "--pve", "9", "--nodes", "5", "--from", str(_stack(lab, "base.yaml")))
    try:
        yield lab
    finally:
        stop(lab)


class Api:
    """The lab's REST API over HTTPS with its token."""

    def __init__(self, lab: Lab) -> None:
        conn = json.loads((lab.lab_dir / "connection.json").read_text())
        self.url = conn["api_url"]
        self.ca = conn["ca_file"]
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"PVEAPIToken={Path(conn['token_file']).read_text().strip()}"

    def get(self, path: str, **params: Any) -> Any:
        # verify= per request: requests lets $REQUESTS_CA_BUNDLE override Session.verify
        r = self.session.get(self.url + path, params=params, timeout=30, verify=self.ca)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def disarm(self) -> dict[str, str] | None:
        return self.get("/cluster/ha/status/manager_status")["manager_status"].get("disarm")

    def crm_log(self) -> list[str]:
        master = self.get("/cluster/ha/status/manager_status")["manager_status"]["master_node"]
        return [line["t"].split("]: ", 1)[1] for line in
                self.get(f"/nodes/{master}/syslog", service="pve-ha-crm", limit=1000) if "]: " in line["t"]]


@pytest.fixture
def api(pve9: Lab) -> Iterator[Api]:
    handle = Api(pve9)
    yield handle
    if handle.disarm() is not None:  # a test that disarmed by hand leaves the lab armed
        assert pve9.node_cli("pve01", "ha-manager", "crm-command", "arm-ha").returncode == 0
    _wait(lambda: handle.disarm() is None, "armed")


def _wait(pred: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _out(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _window(run: Path) -> dict[str, Any]:
    return dict(json.loads((run / "ha-disarm.json").read_text()))


def _task_times(run: Path) -> list[datetime]:
    """When each task of a plan action started or ended (runner events)."""
    times = []
    for line in (run / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if str((event.get("event_data") or {}).get("task") or "").startswith("Action ") and event.get("created"):
            times.append(_at(event["created"]))
    return times


class Watch:
    """Polls the manager status while an apply runs: every disarm state seen, in order."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            d = self.api.disarm()
            state = "armed" if d is None else f"{d['state']}/{d['mode']}"
            if not self.seen or self.seen[-1] != state:
                self.seen.append(state)
            time.sleep(0.05)

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join()
        return self.seen


def test_ha_is_disarmed_for_the_change_and_armed_after(pve9: Lab, api: Api) -> None:
    stack = _stack(pve9, "relocate2.yaml", '{sid: "vm:101", max_relocate: 2}')
    watch = Watch(api)
    proc = pve9.cli("apply", str(stack), "--auto-approve", "--disarm-ha", "freeze")
    seen = watch.stop()
    assert proc.returncode == 0, _out(proc)
    out = proc.stdout
    assert out.index("HA disarmed (resource-mode=freeze)") < out.index("start  [1/1] ha_resource_set") \
        < out.index("HA armed again.") < out.index("Apply complete")
    assert "disarmed/freeze" in seen and seen[-1] == "armed", seen
    run = pve9.runs()[-1]
    window = _window(run)
    assert window["mode"] == "freeze" and window["problem"] is None
    tasks = _task_times(run)
    assert tasks and _at(window["disarmed"]) < min(tasks) and max(tasks) < _at(window["arm_requested"])
    assert _at(window["arm_requested"]) <= _at(window["armed"])
    log = api.crm_log()
    start = len(log) - 1 - log[::-1].index("got crm command: disarm-ha freeze")
    tail = log[start:]
    assert "disarm: freezing service 'vm:101' (was 'started')" in tail
    assert tail.index("all LRMs disarmed, HA stack is now fully disarmed") < tail.index("got crm command: arm-ha")
    assert api.disarm() is None
    _wait(lambda: next(e for e in api.get("/cluster/ha/status/current") if e["type"] == "fencing")[
        "armed-state"] == "armed", "fencing armed")
    assert pve9.cli("plan", str(stack), "--detailed-exitcode").returncode == 0
    # nothing left to do: disarming for nothing is refused, HA is not touched
    before = len(api.crm_log())
    again = pve9.cli("apply", str(stack), "--auto-approve", "--disarm-ha", "freeze")
    assert again.returncode == 1
    assert "nothing to do: the plan is empty, so HA was not disarmed" in again.stderr
    assert not [line for line in api.crm_log()[before:] if "disarm-ha" in line]


def test_a_failing_task_still_arms_ha(pve9: Lab, api: Api) -> None:
    stack = _stack(pve9, "relocate3.yaml", '{sid: "vm:101", max_relocate: 3}')
    assert pve9.cli("lab", "faults", "--fail-once", "ha-manager set").returncode == 0
    proc = pve9.cli("apply", str(stack), "--auto-approve", "--disarm-ha", "ignore")
    assert proc.returncode == 1, _out(proc)
    assert "injected fault" in _out(proc)
    assert proc.stdout.index("HA disarmed (resource-mode=ignore)") < proc.stdout.index("HA armed again.")
    window = _window(pve9.runs()[-1])
    assert window["mode"] == "ignore" and window["armed"] and window["problem"] is None
    assert pve9.summary(pve9.runs()[-1])["actions"]["failed"]
    assert api.disarm() is None


def test_sigterm_during_the_apply_still_arms_ha(pve9: Lab, api: Api) -> None:
    stack = _stack(pve9, "relocate4.yaml", '{sid: "vm:101", max_relocate: 4}')
    proc = subprocess.Popen([*PROVISION, "apply", str(stack), "--auto-approve", "--disarm-ha", "freeze"],
                            cwd=pve9.work, env=pve9.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: (api.disarm() or {}).get("state") == "disarmed", "disarmed by the apply", timeout=300)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stdout + stderr
    assert "SIGTERM" in stdout + stderr
    assert "HA armed again." in stdout
    assert api.disarm() is None
    log = api.crm_log()
    assert log.index("got crm command: arm-ha", len(log) - 1 - log[::-1].index("got crm command: disarm-ha freeze"))


def test_someone_elses_disarm_is_refused_and_left_alone(pve9: Lab, api: Api) -> None:
    same = _stack(pve9, "same.yaml")
    converged = pve9.cli("apply", str(same), "--auto-approve")  # whatever the tests before left
    assert converged.returncode == 0, _out(converged)
    assert pve9.node_cli("pve02", "ha-manager", "crm-command", "disarm-ha", "ignore").returncode == 0
    _wait(lambda: (api.disarm() or {}).get("state") == "disarmed", "disarmed by hand")
    stack = _stack(pve9, "relocate5.yaml", '{sid: "vm:101", max_relocate: 5}')
    runs = len(pve9.runs())
    proc = pve9.cli("apply", str(stack), "--auto-approve", "--disarm-ha", "freeze")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "HA disarmed (resource-mode=ignore, disarmed) already, by someone else: apply re-arms only what it "
        "disarmed itself, so it will not take this one over; arm it first (`ha-manager crm-command arm-ha`) or "
        "apply without --disarm-ha")
    assert len(pve9.runs()) == runs
    assert api.disarm() == {"mode": "ignore", "state": "disarmed"}  # not re-armed
    drift = pve9.cli("drift", str(same))
    assert drift.returncode == 0, _out(drift)
    assert ("warning: HA disarmed (resource-mode=ignore, disarmed): nothing is fenced or recovered until someone "
            "runs `ha-manager crm-command arm-ha`") in drift.stdout
    drill = pve9.cli("drill", str(stack), "--node", "pve02")
    assert drill.returncode != 0
    assert "HA disarmed (resource-mode=ignore, disarmed): the HA manager ignores node maintenance" in _out(drill)
    assert api.disarm() == {"mode": "ignore", "state": "disarmed"}


def test_pve8_stack_and_check_mode_are_refused_before_any_request(pve9: Lab) -> None:
    text = (REPO / "stacks" / "lab.yaml").read_text()
    stack = pve9.work / "pve8.yaml"
    stack.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.startswith("pve_version:"))
    proc = pve9.cli("apply", str(stack), "--auto-approve", "--disarm-ha", "freeze")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"{stack}:{line}:1: pve_version 8: --disarm-ha needs PVE 9 (pve-ha-manager "
                                   ">= 5.1.3 added disarm-ha); PVE 8 cannot disarm HA")
    check = pve9.cli("apply", str(_stack(pve9, "check.yaml")), "--check", "--disarm-ha", "freeze")
    assert check.returncode == 1
    assert check.stderr.strip() == ("--disarm-ha with --check: check mode changes nothing, so there is no change "
                                    "to disarm HA for; drop one of them")
