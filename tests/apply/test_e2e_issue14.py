"""Issue 14 items 8, 9 and 10 through the real CLI on a built lab.

Item 9: every apply here runs `provision apply` in a subprocess whose stdout/stderr are pipes,
as in a CI job: the live panel is off, so the default must log each action's start and
finish with times, `--quiet` must print less than that, and `--format json` events must
carry a time and the action id. Item 10: a TLS failure shows the fingerprint the
server presented, and pinning that fingerprint works.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from e2e_lab import Lab, stack_copy

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

STOP = ('- {sid: "vm:101", group: web}', '- {sid: "vm:101", group: web, state: stopped}')


def _stack(lab: Lab, name: str, stopped: bool) -> Path:
    return stack_copy(lab.work / name, (lambda t: t.replace(*STOP)) if stopped else None)


def test_without_a_terminal_apply_logs_each_action_and_quiet_logs_less(built_lab: Lab) -> None:
    default = built_lab.cli("apply", str(_stack(built_lab, "stop.yaml", True)), "--auto-approve")
    assert default.returncode == 0, default.stdout + default.stderr
    lines = default.stdout.splitlines()
    start = [line for line in lines if re.match(r"^\d\d:\d\d:\d\d  start  \[1/1\] ha_resource_set "
                                                 r'ha\.resource\["vm:101"\] on pve0\d$', line)]
    done = [line for line in lines if re.match(r"^\d\d:\d\d:\d\d  done   \[1/1\] ha_resource_set "
                                                r'ha\.resource\["vm:101"\] on pve0\d \(\d+\.\ds\)$', line)]
    assert len(start) == 1 and len(done) == 1, default.stdout
    assert "Phase ha_resources: ha_resource_set" in lines
    # item 10: the run record is kept per cluster under $PROVISION_HOME, never in the cwd
    assert f"Record: {built_lab.home}/runs/lab/" in default.stdout
    assert not (built_lab.work / ".provision").exists()

    quiet = built_lab.cli("apply", str(_stack(built_lab, "start.yaml", False)), "--auto-approve", "--quiet")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "Phase ha_resources: ha_resource_set" in quiet.stdout.splitlines()
    assert " start " not in quiet.stdout and "Changes:" not in quiet.stdout
    assert len(quiet.stdout.splitlines()) < len(lines)
    assert quiet.stderr == ""  # not even the lock line


def test_json_events_carry_a_time_and_the_action_id(built_lab: Lab) -> None:
    proc = built_lab.cli("apply", str(_stack(built_lab, "stop-json.yaml", True)), "--auto-approve",
                         "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events and all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", e["time"]) for e in events)
    aid = 'ha.resource["vm:101"]#set'
    tasks = [e for e in events if str(e.get("task", "")).startswith("Action ")]
    assert tasks and all(e["action"] == aid for e in tasks)
    names = [e["event"] for e in events if e.get("action") == aid and e["event"].startswith("action_")]
    assert names == ["action_start", "action_done"]
    assert events[-1]["event"] == "apply" and events[-1]["status"] == "applied"

    old = built_lab.cli("apply", str(_stack(built_lab, "start-json.yaml", False)), "--auto-approve", "-o", "json")
    assert old.returncode == 0, old.stdout + old.stderr
    assert "`--output`/`-o` of apply is now `--format`/`-f`" in old.stderr
    assert json.loads(old.stdout.splitlines()[-1])["status"] == "applied"


def _api_stack(lab: Lab, name: str, pin: str | None) -> Path:
    """stacks/lab.yaml reaching the lab through `connection.api` (as a real cluster would be),
    with the lab's token in a file next to the stack and no CA file."""
    info = json.loads((lab.lab_dir / "connection.json").read_text())
    shutil.copy(info["token_file"], lab.work / "token")
    url = info["api_url"].removesuffix("/api2/json")
    pinned = f', fingerprint: "{pin}"' if pin else ""
    return stack_copy(lab.work / name, lambda t: t.replace("  lab: default",
                                                           f'  api: {{url: "{url}", token: {{file: token}}{pinned}}}'))


def test_a_tls_failure_shows_the_presented_fingerprint_and_pinning_it_works(built_lab: Lab) -> None:
    presented = json.loads((built_lab.lab_dir / "connection.json").read_text())["fingerprint"]
    proc = built_lab.cli("plan", str(_api_stack(built_lab, "tls.yaml", None)))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "server certificate did not verify" in proc.stderr
    assert f"the server presented SHA-256 fingerprint {presented}" in proc.stderr
    assert f'connection.api.fingerprint: "{presented}"' in proc.stderr

    wrong = "AA:" * 31 + "AA"
    proc = built_lab.cli("plan", str(_api_stack(built_lab, "tls-wrong.yaml", wrong)))
    assert proc.returncode == 1
    assert f"presented SHA-256 fingerprint {presented}, the stack pins {wrong}" in proc.stderr

    proc = built_lab.cli("plan", str(_api_stack(built_lab, "tls-pinned.yaml", presented)), "--detailed-exitcode")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No changes" in proc.stdout
