"""Cross-check: what ``provision simulate`` predicts is what the lab's HA manager does.

The lab runs a CRM loop (``provision.lab.hamanager``) with time-scaled fencing. We build
the cluster of ``stacks/lab.yaml`` in a lab (``provision lab up --from``), ask simulate
where every HA service ends up when pve01 dies, power pve01 off in the lab, wait for
recovery and compare.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sim_builders import LAB_STACK, REPO

from provision.spec import load_stack

pytestmark = pytest.mark.e2e

PROVISION = Path(sys.executable).parent / "provision"
LAB = "simx"
TIMEOUT = 90.0


class Lab:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "PROVISION_HOME": str(home), "COLUMNS": "200"}

    def provision(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(PROVISION), *args], capture_output=True, text=True, env=self.env, cwd=REPO,
                              timeout=120, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"provision {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc

    @property
    def dir(self) -> Path:
        return self.home / "labs" / LAB

    def node_cli(self, node: str, *argv: str) -> str:
        conn = json.loads((self.dir / "connection.json").read_text())
        env = {**self.env, "PVE_LAB_DIR": str(self.dir), "PVE_LAB_NODE": node}
        proc = subprocess.run([str(Path(conn["bin_dir"]) / argv[0]), *argv[1:]], capture_output=True, text=True,
                              env=env, timeout=60, check=False, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise AssertionError(f"{node}: {' '.join(argv)} failed:\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def get(self, node: str, path: str, *args: str) -> Any:
        return json.loads(self.node_cli(node, "pvesh", "get", path, *args, "--output-format", "json"))

    def ha_services(self, node: str) -> dict[str, dict[str, Any]]:
        status = self.get(node, "/cluster/ha/status/current")
        return {s["sid"]: s for s in status if s.get("type") == "service"}

    def wait(self, node: str, done: Any, what: str) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + TIMEOUT
        services = self.ha_services(node)
        while not done(services):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {TIMEOUT:.0f}s waiting for {what}: {services}")
            time.sleep(0.2)
            services = self.ha_services(node)
        return services


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path / "home")
    try:
        yield lab
    finally:
        lab.provision("lab", "down", "--name", LAB, check=False)


def _lab_like_the_stack(lab: Lab, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Start the lab as stacks/lab.yaml describes; (stack that matches it, sid -> node once started)."""
    lab.provision("lab", "up", "--name", LAB, "--from", str(LAB_STACK), "--time-scale", "0.01")
    stack = LAB_STACK
    expected_sids = {r.sid for r in load_stack(stack).cluster.ha.resources}
    before = lab.wait(
        "pve02",
        lambda s: set(s) == expected_sids and all(x["state"] == "started" for x in s.values()),
        "every HA service to start",
    )
    return stack, {sid: s["node"] for sid, s in before.items()}


def test_simulate_predicts_where_the_lab_recovers_every_service(lab: Lab, tmp_path: Path) -> None:
    stack, initial = _lab_like_the_stack(lab, tmp_path)

    proc = lab.provision("simulate", str(stack), "--fail", "pve01", "--format", "json")
    (step,) = json.loads(proc.stdout)["scenarios"][0]["steps"]
    predicted = {s["sid"]: s["after"] for s in step["ha"]}
    assert {s["sid"]: s["before"] for s in step["ha"]} == initial, "simulate starts from the lab's placement"
    moved = {sid for sid, node in initial.items() if node == "pve01"}
    assert moved, "the scenario must move something to be a meaningful check"
    assert all(predicted[sid] != "pve01" for sid in moved)

    lab.provision("lab", "fail", "pve01", "--name", LAB)
    after = lab.wait(
        "pve02",
        lambda s: all(x["state"] == "started" and x["node"] != "pve01" for x in s.values()),
        "recovery of pve01's services",
    )
    assert {sid: s["node"] for sid, s in after.items()} == predicted


def test_live_simulation_of_the_lab_matches_the_spec(lab: Lab, tmp_path: Path) -> None:
    """``--lab NAME`` discovers the running lab and must predict what the stack predicts."""
    stack, initial = _lab_like_the_stack(lab, tmp_path)
    spec = json.loads(lab.provision("simulate", str(stack), "--fail", "pve01", "--format", "json").stdout)
    live_proc = lab.provision("simulate", str(stack), "--lab", LAB, "--fail", "pve01", "--format", "json",
                              check=False)
    assert live_proc.returncode == 0, live_proc.stderr
    live = json.loads(live_proc.stdout)
    assert live["source"].startswith("live cluster")
    (spec_step,) = spec["scenarios"][0]["steps"]
    (live_step,) = live["scenarios"][0]["steps"]
    assert {s["sid"]: s["before"] for s in live_step["ha"]} == initial
    assert {s["sid"]: s["after"] for s in live_step["ha"]} == {s["sid"]: s["after"] for s in spec_step["ha"]}
    assert live_step["quorum"] == spec_step["quorum"]
