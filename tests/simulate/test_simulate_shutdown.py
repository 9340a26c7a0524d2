"""HA maintenance and clean shutdowns/reboots in the simulator, after pve-ha-manager's
regression tests (``src/test/test-crm-maintenance-request1``, ``test-reboot1``,
``test-shutdown1``, ``test-shutdown-policy1..3``) and ``LRM.pm`` ``shutdown_request``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sim_builders import LAB_STACK, REPO

from provision.crm import shutdown_mode
from provision.simulate import run, scenario_from_cli
from provision.spec import load_stack

CLUSTER = load_stack(LAB_STACK).cluster


def steps(**flags: object) -> list[dict[str, tuple[str | None, str]]]:
    scenario = scenario_from_cli(CLUSTER.node_names, [0, 1], **flags)  # type: ignore[arg-type]
    return [{s.sid: (s.after, s.action) for s in step.services} for step in run(CLUSTER, scenario).steps]


@pytest.mark.parametrize(("policy", "reboot", "mode"), [
    ("conditional", True, "restart"), ("conditional", False, "shutdown"),
    ("freeze", False, "restart"), ("freeze", True, "restart"),
    ("failover", True, "shutdown"), ("failover", False, "shutdown"),
    ("migrate", True, "maintenance"), ("migrate", False, "maintenance"),
    ("bogus", True, "restart"),  # unknown: falls back to conditional
])
def test_the_lrm_reading_of_the_policy(policy: str, reboot: bool, mode: str) -> None:
    assert shutdown_mode(policy, reboot) == mode


def test_maintenance_moves_away_then_back() -> None:
    during, after = steps(maintenance=["pve02"])
    assert during["vm:101"] == ("pve01", "moved") and during["vm:102"] == ("pve03", "stays")
    assert after["vm:101"] == ("pve02", "moved")


def test_reboot_with_the_default_policy_freezes() -> None:
    down, back = steps(reboot=["pve02"])
    assert down["vm:101"] == ("pve02", "frozen")
    assert back["vm:101"][0] == "pve02" and back["vm:101"][1] != "lost"


def test_shutdown_with_the_default_policy_fails_over() -> None:
    (down,) = steps(shutdown=["pve03"])
    assert down["vm:102"] == ("pve02", "recovered")


def test_migrate_policy_moves_before_the_node_goes_and_back_after_the_reboot() -> None:
    down, back = steps(reboot=["pve01"], shutdown_policy="migrate")
    assert down["vm:100"] == ("pve02", "moved") and down["ct:200"] == ("pve02", "moved")
    assert back["vm:100"] == ("pve01", "moved") and back["ct:200"] == ("pve01", "moved")


def test_freeze_shutdown_keeps_services_waiting() -> None:
    (down,) = steps(shutdown=["pve01"], shutdown_policy="freeze")
    assert down["vm:100"] == ("pve01", "frozen") and down["vm:101"] == ("pve02", "stays")


def test_cli_reads_the_policy_and_rejects_an_unknown_one() -> None:
    cmd = [sys.executable, "-m", "provision", "simulate", str(LAB_STACK), "--reboot", "pve01", "-f", "json"]
    p = subprocess.run([*cmd, "--shutdown-policy", "migrate"], capture_output=True, text=True, cwd=REPO, check=False)
    assert p.returncode == 0, p.stderr
    (scenario,) = json.loads(p.stdout)["scenarios"]
    assert scenario["name"] == "reboot pve01 (policy migrate); recover pve01"
    p = subprocess.run([*cmd, "--shutdown-policy", "sometimes"], capture_output=True, text=True, cwd=REPO, check=False)
    assert p.returncode == 1 and "--shutdown-policy 'sometimes'" in p.stderr
