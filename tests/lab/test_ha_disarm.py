"""The lab's HA disarm (pve-ha-manager 5.1.3, PVE 9): ``disarm-ha freeze|ignore`` and
``arm-ha`` through the API and ``ha-manager crm-command``, seen through the status
endpoints and the CRM's log; a node that fails while disarmed is neither fenced nor
recovered, arming restores both; PVE 8 has no such path (docs/lab-contract.md, "HA disarm").
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from labkit import LabHandle, start_lab, stop_lab

from provision.lab.hamanager import FENCE_SECONDS, ROUND_SECONDS

STACK = Path(__file__).resolve().parents[2] / "stacks" / "pve9-example.yaml"
FENCE_WAIT = (FENCE_SECONDS + 3 * ROUND_SECONDS) * 0.02  # at `lab up`'s default time scale


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
    work = tmp_path_factory.mktemp("stack")
    text = re.sub(r"connection:\n  api:\n(    .*\n)+", "connection:\n  lab: default\n", STACK.read_text())
    (work / "pve9.yaml").write_text(text)
    handle = start_lab(tmp_path_factory.mktemp("home"), "disarm", "--from", str(work / "pve9.yaml"))
    try:
        yield handle
    finally:
        stop_lab(handle)


@pytest.fixture(autouse=True)
def armed(lab: LabHandle) -> Iterator[None]:
    """Every test starts and ends with an armed stack, all nodes up, services home."""
    yield
    for node in (n["node"] for n in lab.get("/nodes") if n["status"] != "online"):
        lab.lab("recover", node)
    if "disarm" in manager(lab):
        lab.ok("POST", "/cluster/ha/status/arm-ha")
    lab.wait(lambda: "disarm" not in manager(lab) and all(
        s["state"] == "started" for s in manager(lab)["service_status"].values()), timeout=60, what="armed again")


def manager(lab: LabHandle) -> dict[str, Any]:
    return dict(lab.get("/cluster/ha/status/manager_status")["manager_status"])


def fencing(lab: LabHandle) -> dict[str, Any]:
    return dict(next(e for e in lab.get("/cluster/ha/status/current") if e["type"] == "fencing"))


def crm_log(lab: LabHandle) -> list[str]:
    master = manager(lab)["master_node"]
    return [line["t"].split("]: ", 1)[1] for line in
            lab.get(f"/nodes/{master}/syslog", service="pve-ha-crm", limit=1000) if "]: " in line["t"]]


def test_freeze_pins_services_and_releases_every_watchdog(lab: LabHandle) -> None:
    assert fencing(lab)["armed-state"] == "armed"
    names = [i["name"] for i in lab.get("/cluster/ha/status")]
    assert names == ["current", "manager_status", "disarm-ha", "arm-ha"]
    assert lab.ok("POST", "/cluster/ha/status/disarm-ha", **{"resource-mode": "freeze"}) is None
    lab.wait(lambda: manager(lab).get("disarm") == {"mode": "freeze", "state": "disarmed"}, what="disarmed")
    ms = lab.get("/cluster/ha/status/manager_status")
    assert {sd["state"] for sd in ms["manager_status"]["service_status"].values()} == {"freeze"}
    assert {(lrm["mode"], lrm["state"]) for lrm in ms["lrm_status"].values()} == {("disarm", "wait_for_agent_lock")}
    current = lab.get("/cluster/ha/status/current")
    assert fencing(lab)["status"] == "disarmed, resource mode: freeze (CRM watchdog released)"
    master = next(e for e in current if e["type"] == "master")
    assert master["status"].endswith(" - disarmed, resource mode: freeze")
    assert all("(disarm mode, watchdog released, " in e["status"] for e in current if e["type"] == "lrm")
    log = crm_log(lab)
    assert "got crm command: disarm-ha freeze" in log
    assert "disarm: freezing service 'vm:100' (was 'started')" in log
    assert log.index("got crm command: disarm-ha freeze") < log.index(
        "all LRMs disarmed, HA stack is now fully disarmed")
    # a second disarm is accepted by the API and only logged by the CRM
    lab.node("pve01", "ha-manager", "crm-command", "disarm-ha", "ignore")
    lab.wait(lambda: "ignoring disarm-ha command - already in disarm state (disarmed)" in crm_log(lab),
             what="second disarm ignored")
    assert manager(lab)["disarm"]["mode"] == "freeze"
    # node maintenance is ignored while disarmed
    lab.node("pve01", "ha-manager", "crm-command", "node-maintenance", "enable", "pve02")
    lab.wait(lambda: "ignoring maintenance command for node pve02 - HA stack is disarmed" in crm_log(lab),
             what="maintenance ignored")
    assert "node_request" not in manager(lab)
    lab.node("pve01", "ha-manager", "crm-command", "arm-ha")
    lab.wait(lambda: fencing(lab)["armed-state"] == "armed" and all(
        sd["state"] == "started" for sd in manager(lab)["service_status"].values()), what="armed, unfrozen")
    assert "got crm command: arm-ha" in crm_log(lab)


def test_a_node_failing_while_disarmed_is_not_fenced_until_armed(lab: LabHandle) -> None:
    on_pve01 = sorted(sid for sid, sd in manager(lab)["service_status"].items() if sd["node"] == "pve01")
    assert on_pve01
    lab.ok("POST", "/cluster/ha/status/disarm-ha", **{"resource-mode": "ignore"})
    lab.wait(lambda: manager(lab).get("disarm", {}).get("state") == "disarmed", what="disarmed")
    services = [e for e in lab.get("/cluster/ha/status/current") if e["type"] == "service"]
    assert {e["state"] for e in services} == {"ignore"}
    # ignore mode: HA does not manage the resources, so HA's own commands refuse them
    refused = lab.node("pve01", "ha-manager", "migrate", on_pve01[0], "pve02", check=False)
    assert refused.returncode != 0 and f"resource '{on_pve01[0]}' is not HA managed" in refused.stderr
    lab.lab("fail", "pve01")
    lab.wait(lambda: manager(lab)["node_status"].get("pve01") == "unknown", what="pve01 unknown")
    lab.wait(lambda: manager(lab).get("master_node") not in (None, "pve01"), what="a new master")
    time.sleep(FENCE_WAIT)  # longer than fencing takes when armed
    ms = manager(lab)
    assert ms["node_status"]["pve01"] == "unknown"
    assert {sid: ms["service_status"][sid]["node"] for sid in on_pve01} == dict.fromkeys(on_pve01, "pve01")
    assert not [s for s in ms["service_status"].values() if s["state"] in ("fence", "recovery")]
    lab.ok("POST", "/cluster/ha/status/arm-ha")
    lab.wait(lambda: all(manager(lab)["service_status"][sid]["node"] != "pve01"
                         and manager(lab)["service_status"][sid]["state"] == "started" for sid in on_pve01),
             timeout=FENCE_WAIT * 3 + 30, what="fenced and recovered once armed")


def test_arm_while_armed_is_only_logged(lab: LabHandle) -> None:
    assert lab.ok("POST", "/cluster/ha/status/arm-ha") is None
    lab.wait(lambda: "ignoring arm-ha command - HA stack is not disarmed" in crm_log(lab), what="arm ignored")


def test_resource_mode_is_required_and_checked(lab: LabHandle) -> None:
    missing = lab.request("POST", "/cluster/ha/status/disarm-ha")
    assert missing.status_code == 400 and "resource-mode" in missing.json()["errors"]
    wrong = lab.request("POST", "/cluster/ha/status/disarm-ha", **{"resource-mode": "stop"})
    assert wrong.status_code == 400 and "enumeration" in wrong.json()["errors"]["resource-mode"]
    cli = lab.node("pve01", "ha-manager", "crm-command", "disarm-ha", check=False)
    assert cli.returncode == 255 and "resource-mode: property is missing" in cli.stderr
    assert "disarm" not in manager(lab)


def test_pve8_has_no_disarm(lab8: LabHandle) -> None:
    r = lab8.request("POST", "/cluster/ha/status/disarm-ha", **{"resource-mode": "freeze"})
    assert r.status_code == 501
    assert "Method 'POST /cluster/ha/status/disarm-ha' not implemented" in r.text
    assert [i["name"] for i in lab8.get("/cluster/ha/status")] == ["current", "manager_status"]
    cli = lab8.node("pve01", "ha-manager", "crm-command", "arm-ha", check=False)
    assert cli.returncode == 255 and "unknown command 'ha-manager crm-command arm-ha'" in cli.stderr
