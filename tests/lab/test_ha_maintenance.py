"""The lab's HA manager: node maintenance and clean shutdowns/reboots under the HA
shutdown policy, as pve-ha-manager's regression tests describe them
(``src/test/test-crm-maintenance-request1``, ``test-shutdown-policy1..3``,
``test-reboot1``, ``test-shutdown1``; docs/lab-contract.md "HA node maintenance").
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labkit import PROVISION, LabHandle, start_lab, stop_lab

from provision.lab.hamanager import FENCE_SECONDS, ROUND_SECONDS

STACK = Path(__file__).resolve().parents[2] / "stacks" / "lab.yaml"
FENCE_WAIT = (FENCE_SECONDS + 2 * ROUND_SECONDS) * 0.02  # at `lab up`'s default time scale


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    handle = start_lab(tmp_path_factory.mktemp("home"), "maint", "--from", str(STACK))
    try:
        yield handle
    finally:
        stop_lab(handle)


@pytest.fixture(autouse=True)
def healthy(lab: LabHandle) -> Iterator[None]:
    """Every test starts from the converged cluster with PVE's default policy."""
    yield
    for node in (n["node"] for n in lab.get("/nodes") if n["status"] != "online"):
        lab.lab("recover", node)
    for node in manager(lab).get("node_request", {}):
        lab.node("pve01", "ha-manager", "crm-command", "node-maintenance", "disable", node)
    lab.ok("PUT", "/cluster/options", delete="ha")
    lab.wait(lambda: placement(lab) == HOME and set(manager(lab)["node_status"].values()) == {"online"},
             timeout=60, what="services back home")


HOME = {"ct:200": ("pve01", "started"), "vm:100": ("pve01", "started"), "vm:101": ("pve02", "started"),
        "vm:102": ("pve03", "started")}


def manager(lab: LabHandle) -> dict[str, Any]:
    return dict(lab.get("/cluster/ha/status/manager_status")["manager_status"])


def placement(lab: LabHandle) -> dict[str, tuple[str, str]]:
    return {sid: (sd["node"], sd["state"]) for sid, sd in manager(lab)["service_status"].items()}


def lrm_line(lab: LabHandle, node: str) -> str:
    out = lab.node("pve01", "ha-manager", "status").stdout
    return next(line for line in out.splitlines() if line.startswith(f"lrm {node} "))


def test_node_maintenance_moves_services_away_and_back(lab: LabHandle) -> None:
    lab.node("pve03", "ha-manager", "crm-command", "node-maintenance", "enable", "pve01")
    lab.wait(lambda: placement(lab)["vm:100"] == ("pve02", "started") and placement(lab)["ct:200"][0] == "pve02",
             what="pve01's services on pve02")
    ms = manager(lab)
    assert ms["node_status"]["pve01"] == "maintenance"
    assert ms["node_request"] == {"pve01": {"maintenance": 1}}
    assert ms["service_status"]["vm:100"]["maintenance_node"] == "pve01"
    assert "(maintenance mode," in lrm_line(lab, "pve01")
    assert lab.get("/cluster/ha/status/manager_status")["lrm_status"]["pve01"]["mode"] == "maintenance"
    # a node in maintenance takes no services: a migrate to it is dropped by the CRM
    lab.node("pve01", "ha-manager", "migrate", "vm:101", "pve01")
    lab.node("pve01", "ha-manager", "crm-command", "node-maintenance", "disable", "pve01")
    lab.wait(lambda: placement(lab) == HOME, what="failback to pve01")
    ms = manager(lab)
    assert ms["node_status"]["pve01"] == "online" and "node_request" not in ms
    assert all("maintenance_node" not in sd for sd in ms["service_status"].values())


def test_node_maintenance_of_an_unknown_node(lab: LabHandle) -> None:
    p = lab.node("pve01", "ha-manager", "crm-command", "node-maintenance", "enable", "pve09", check=False)
    assert p.returncode != 0 and "no such cluster node 'pve09'" in p.stderr


def test_maintenance_survives_a_power_cycle(lab: LabHandle) -> None:
    """test-crm-maintenance-request1: off and on again, the node stays in maintenance."""
    lab.node("pve01", "ha-manager", "crm-command", "node-maintenance", "enable", "pve02")
    lab.wait(lambda: placement(lab)["vm:101"] == ("pve01", "started"), what="vm:101 on pve01")
    lab.lab("fail", "pve02")
    time.sleep(FENCE_WAIT)  # longer than the lab's whole fencing delay: nothing is fenced
    assert {n["node"]: n["status"] for n in lab.get("/nodes")}["pve02"] == "offline"
    assert manager(lab)["node_status"]["pve02"] == "maintenance"
    lab.lab("recover", "pve02")
    lab.wait(lambda: lrm_line(lab, "pve02").startswith("lrm pve02 (maintenance mode"), what="fresh LRM")
    assert manager(lab)["node_status"]["pve02"] == "maintenance"
    assert placement(lab)["vm:101"] == ("pve01", "started")


def _reboot_in_background(lab: LabHandle, node: str) -> subprocess.Popen[str]:
    # 500 simulated seconds at the lab's time scale 0.02: 10 s down, time to look at it
    return subprocess.Popen([PROVISION, "lab", "reboot", node, "--down-for", "500", "--name", lab.name],
                            env=lab.env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_reboot_with_the_default_policy_freezes(lab: LabHandle) -> None:
    """test-reboot1 (conditional): frozen while the node is down, started on it again."""
    proc = _reboot_in_background(lab, "pve02")
    try:
        lab.wait(lambda: placement(lab)["vm:101"] == ("pve02", "freeze")
                 and manager(lab)["node_status"]["pve02"] == "unknown", what="vm:101 frozen, pve02 down")
        assert lab.get("/cluster/resources", type="vm")[1]["status"] in ("stopped", "unknown")
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "policy conditional, LRM mode restart" in out
    lab.wait(lambda: placement(lab)["vm:101"] == ("pve02", "started"), what="vm:101 started on pve02")


def test_shutdown_with_failover_recovers_elsewhere(lab: LabHandle) -> None:
    """test-shutdown-policy1/test-shutdown1: stopped, fenced once the node is gone, recovered."""
    lab.ok("PUT", "/cluster/options", ha="shutdown_policy=failover")
    out = lab.lab("shutdown", "pve03").stdout
    assert "policy failover, LRM mode shutdown" in out
    # db {pve03: 2, pve02: 1} (restricted): the only other node is pve02
    lab.wait(lambda: placement(lab)["vm:102"] == ("pve02", "started"), what="vm:102 recovered on pve02")


def test_reboot_with_migrate_is_maintenance(lab: LabHandle) -> None:
    """test-shutdown-policy3: moved away before the node goes down, never fenced, moved back."""
    lab.ok("PUT", "/cluster/options", ha="shutdown_policy=migrate")
    proc = _reboot_in_background(lab, "pve03")
    try:
        lab.wait(lambda: manager(lab)["node_status"]["pve03"] == "maintenance"
                 and placement(lab)["vm:102"] == ("pve02", "started")
                 and manager(lab)["service_status"]["vm:102"].get("maintenance_node") == "pve03",
                 what="vm:102 moved to pve02")
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "policy migrate, LRM mode maintenance" in out
    lab.wait(lambda: placement(lab)["vm:102"] == ("pve03", "started"), what="vm:102 back on pve03")


def _online(lab: LabHandle, node: str) -> bool:
    return any(n["node"] == node and n["status"] == "online" for n in lab.get("/nodes"))


def test_api_shutdown_with_failover_stops_and_recovers_elsewhere(lab: LabHandle) -> None:
    """`POST /nodes/{node}/status command=shutdown` goes the same way as `lab shutdown`:
    the LRM (mode shutdown) stops vm:102, the node powers off, the CRM recovers it."""
    lab.ok("PUT", "/cluster/options", ha="shutdown_policy=failover")
    lab.ok("POST", "/nodes/pve03/status", as_node="pve01", command="shutdown")
    lab.wait(lambda: not _online(lab, "pve03"), timeout=60, what="pve03 powered off")
    lab.wait(lambda: placement(lab)["vm:102"] == ("pve02", "started"), what="vm:102 recovered on pve02")


def test_api_reboot_with_migrate_moves_away_first_and_back(lab: LabHandle) -> None:
    """`command=reboot` under `migrate`: the LRM enters maintenance and holds the reboot
    until vm:102 migrated to pve02; pve03 goes down in maintenance, comes back, and vm:102
    returns. Never fenced."""
    lab.ok("PUT", "/cluster/options", ha="shutdown_policy=migrate")
    lab.ok("POST", "/nodes/pve03/status", as_node="pve01", command="reboot")
    states: set[str] = set()

    def down_in_maintenance() -> bool:
        ms = manager(lab)
        states.add(ms["node_status"]["pve03"])
        return not _online(lab, "pve03") and ms["node_status"]["pve03"] == "maintenance"

    lab.wait(down_in_maintenance, timeout=60, what="pve03 down in maintenance")
    assert placement(lab)["vm:102"] == ("pve02", "started")
    lab.wait(lambda: _online(lab, "pve03") and placement(lab)["vm:102"] == ("pve03", "started"), timeout=60,
             what="pve03 back and vm:102 on it")
    assert "fence" not in states


def test_api_reboot_with_the_default_policy_freezes(lab: LabHandle) -> None:
    """`conditional` on a reboot: mode restart, vm:101 frozen on pve02 (not moved), started
    there again once pve02 is back."""
    lab.ok("POST", "/nodes/pve02/status", as_node="pve01", command="reboot")
    lab.wait(lambda: placement(lab)["vm:101"] == ("pve02", "freeze"), timeout=60, what="vm:101 frozen")
    lab.wait(lambda: _online(lab, "pve02") and placement(lab)["vm:101"] == ("pve02", "started"), timeout=60,
             what="vm:101 started on pve02 again")
