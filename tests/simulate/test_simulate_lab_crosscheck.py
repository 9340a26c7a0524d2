"""Cross-check: what ``provision simulate`` predicts is what the lab's HA manager does.

The lab runs a CRM loop (``provision.lab.hamanager``) with time-scaled fencing. We build
the cluster of ``stacks/lab.yaml`` in a lab, ask simulate where every HA service ends up
when pve01 dies, power pve01 off in the lab, wait for recovery and compare.

``provision lab up --from STACK`` is preferred; while the lab does not implement it, the
test builds the same HA layout on a blank lab with the lab's own node CLIs (``pvecm``,
``pvesh``). A blank lab's guests have other ids than the stack's (``vm 101..103`` on
``pve01..03`` instead of ``vm:100..102``), so the stack is rewritten to the lab's ids,
matched by (node, guest type); the groups, priorities and resource options are the
stack's. A node power failure does not depend on the corosync link layout, which the
blank-lab cluster (one link on the management network) does not reproduce.
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


def _build_from_blank(lab: Lab, tmp_path: Path) -> Path:
    """A blank lab configured like stacks/lab.yaml; returns the stack rewritten to its guest ids."""
    lab.provision("lab", "up", "--name", LAB, "--nodes", "3", "--time-scale", "0.01")
    lab.node_cli("pve01", "pvecm", "create", "lab")
    for node in ("pve02", "pve03"):
        lab.node_cli(node, "pvecm", "add", "192.168.10.11", "--use_ssh")
    stack = load_stack(LAB_STACK).cluster
    resources = lab.get("pve01", "/cluster/resources", "--type", "vm")
    lab_ids = {(r["node"], "vm" if r["type"] == "qemu" else "ct"): f"{'vm' if r['type'] == 'qemu' else 'ct'}:"
               f"{r['vmid']}" for r in resources}
    rename = {g.sid: lab_ids[(g.node, g.sid.split(":")[0])] for g in stack.guests}
    for group in stack.ha.groups:
        nodes = ",".join(f"{n}:{p}" for n, p in group.nodes.items())
        args = ["--group", group.name, "--nodes", nodes]
        if group.restricted:
            args += ["--restricted", "1"]
        if group.nofailback:
            args += ["--nofailback", "1"]
        lab.node_cli("pve01", "pvesh", "create", "/cluster/ha/groups", *args)
    for res in stack.ha.resources:
        args = ["--sid", rename[res.sid], "--state", res.state, "--max_relocate", str(res.max_relocate),
                "--max_restart", str(res.max_restart)]
        if res.group:
            args += ["--group", res.group]
        lab.node_cli("pve01", "pvesh", "create", "/cluster/ha/resources", *args)
    text = LAB_STACK.read_text()
    for old, new in rename.items():  # via placeholders: vm:100 -> vm:101 must not chain into vm:102
        text = text.replace(f'"{old}"', f'"@{new}@"')
    text = text.replace('"@', '"').replace('@"', '"')
    derived = tmp_path / "lab-as-built.yaml"
    derived.write_text(text)
    return derived


def _lab_like_the_stack(lab: Lab, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Start the lab as stacks/lab.yaml describes; (stack that matches it, sid -> node once started)."""
    up = lab.provision("lab", "up", "--name", LAB, "--from", str(LAB_STACK), "--time-scale", "0.01", check=False)
    if up.returncode == 0:
        stack = LAB_STACK
    else:
        assert "not implemented" in up.stderr, up.stderr
        stack = _build_from_blank(lab, tmp_path)
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
    if live_proc.returncode != 0 and ("discover" in live_proc.stderr):
        pytest.skip(f"discovery of the lab is not reliable yet: {live_proc.stderr.strip()}")
    assert live_proc.returncode == 0, live_proc.stderr
    live = json.loads(live_proc.stdout)
    assert live["source"].startswith("live cluster")
    (spec_step,) = spec["scenarios"][0]["steps"]
    (live_step,) = live["scenarios"][0]["steps"]
    assert {s["sid"]: s["before"] for s in live_step["ha"]} == initial
    assert {s["sid"]: s["after"] for s in live_step["ha"]} == {s["sid"]: s["after"] for s in spec_step["ha"]}
    assert live_step["quorum"] == spec_step["quorum"]
