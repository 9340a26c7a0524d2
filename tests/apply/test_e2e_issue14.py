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
import time
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


# -- item 8: changes that stop or move running guests ------------------------------------------


def _ha_nodes(lab: Lab) -> dict[str, tuple[str, str]]:
    """sid -> (node, state) from the lab's own status table (the lab's HA manager)."""
    proc = lab.cli("lab", "status")
    rows = re.findall(r"│ ((?:vm|ct):\d+) +│ (\w+) +│ (\w+) +│ (\w+) +│", proc.stdout)
    return {sid: (node, state) for sid, _request, node, state in rows}


def _wait_for(lab: Lab, want: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    seen: dict[str, tuple[str, str]] = {}
    for _ in range(60):
        seen = _ha_nodes(lab)
        if all(seen.get(sid) == where for sid, where in want.items()):
            break
        time.sleep(1)
    return seen


def test_a_stale_plan_refusal_says_what_moved(built_lab: Lab) -> None:
    stack = _stack(built_lab, "stale.yaml", True)
    assert built_lab.cli("plan", str(stack), "--out", "p.json").returncode == 0
    assert built_lab.node_cli("pve01", "ha-manager", "migrate", "vm:100", "pve02").returncode == 0
    assert built_lab.node_cli("pve01", "ha-manager", "set", "vm:102", "--state", "stopped").returncode == 0
    seen = _wait_for(built_lab, {"vm:100": ("pve02", "started"), "vm:102": ("pve03", "stopped")})
    assert seen["vm:100"] == ("pve02", "started"), seen
    proc = built_lab.cli("apply", "p.json", "--auto-approve")
    assert proc.returncode == 1
    assert proc.stderr.startswith("plan is stale: the cluster changed since the plan was made: ")
    assert "vm:100 moved pve01 → pve02" in proc.stderr
    assert 'ha.resource["vm:102"] now differs from the stack (state is "stopped")' in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert built_lab.node_cli("pve01", "ha-manager", "set", "vm:102", "--state", "started").returncode == 0


def test_the_plan_names_the_guests_a_change_stops_or_moves_and_the_lab_agrees(built_lab: Lab) -> None:
    """From live placement: vm:100 runs on pve02 (moved there by hand, not where the
    stack's guest list says); raising pve03 in group web moves the web guests there, and
    stopping vm:102 shuts it down."""
    assert built_lab.node_cli("pve01", "ha-manager", "migrate", "vm:100", "pve02").returncode == 0
    before = _wait_for(built_lab, {"vm:100": ("pve02", "started"), "vm:102": ("pve03", "started")})
    assert before["vm:100"] == ("pve02", "started") and before["vm:101"][0] == "pve02", before
    stack = stack_copy(built_lab.work / "move.yaml", lambda t: t.replace(
        "- {name: web, nodes: {pve01: 2, pve02: 2, pve03: 1}}", "- {name: web, nodes: {pve01: 1, pve02: 1, pve03: 2}}"
    ).replace('- {sid: "vm:102", group: db, max_relocate: 2}', '- {sid: "vm:102", group: db, max_relocate: 2, '
                                                              'state: stopped}'))
    text = built_lab.cli("plan", str(stack))
    assert text.returncode == 0, text.stderr
    assert '~ ha.group["web"]  [guest impact]' in text.stdout
    assert "! migrates vm:100 pve02 → pve03 (live migration)" in text.stdout
    assert "! migrates vm:101 pve02 → pve03 (live migration)" in text.stdout
    assert "! restarts ct:200: relocated pve01 → pve03 (a container is shut down, moved and started)" in text.stdout
    assert '~ ha.resource["vm:102"]  [guest impact]' in text.stdout and "! stops vm:102 (on pve03)" in text.stdout
    assert "Guest impact: migrates vm:100, vm:101; restarts ct:200; stops vm:102." in text.stdout

    markdown = built_lab.cli("plan", str(stack), "--format", "markdown").stdout
    assert "> **Guest impact: migrates vm:100, vm:101; restarts ct:200; stops vm:102.**" in markdown
    assert "  - **guest impact:** migrates vm:100 pve02 → pve03 (live migration)" in markdown

    document = json.loads(built_lab.cli("plan", str(stack), "--format", "json").stdout)
    impacts = {(i["guest"], i["impact"], i["node"], i["target"])
               for c in document["changes"] for i in c.get("guest_impact", [])}
    assert impacts == {("vm:100", "migrate", "pve02", "pve03"), ("vm:101", "migrate", "pve02", "pve03"),
                       ("ct:200", "restart", "pve01", "pve03"), ("vm:102", "stop", "pve03", None)}

    applied = built_lab.cli("apply", str(stack), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    want = {"vm:100": ("pve03", "started"), "vm:101": ("pve03", "started"), "ct:200": ("pve03", "started"),
            "vm:102": ("pve03", "stopped")}
    assert _wait_for(built_lab, want) == want
