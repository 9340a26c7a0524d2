"""network_apply through real Ansible against fake node commands: the staged
interfaces.new is validated with PVE's reader and never left behind when rejected."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from provision.apply import runner
from provision.apply.render import Inventory, render_run

pytestmark = pytest.mark.ansible

FAKE = r'''#!{python}
import json, os, sys
cmd = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([cmd] + args) + "\n")
if cmd == "pvesh" and args[1] == "/cluster/status":
    print(json.dumps([{{"type": "node", "name": "pve01"}}]))
elif cmd == "pvesh" and args[1] == "/nodes/pve01/network":
    print(json.dumps(json.load(open(os.environ["FAKE_NETWORK"]))))
elif cmd in ("ifreload", "systemd-run", "systemctl"):
    pass
else:
    print("unexpected " + " ".join(args), file=sys.stderr); sys.exit(9)
'''

OLD = "# the installer's file\n"


@pytest.fixture
def node(tmp_path: Path) -> dict[str, Any]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("pvesh", "pvecm", "ifreload", "systemd-run", "systemctl"):
        script = bin_dir / name
        script.write_text(FAKE.format(python=sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    root = tmp_path / "root"
    (root / "etc" / "network").mkdir(parents=True)
    (root / "etc" / "network" / "interfaces").write_text(OLD)
    network = tmp_path / "network.json"
    log = tmp_path / "calls.log"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(log), "FAKE_NETWORK": str(network)}
    inv = Inventory(hosts=["pve01"], host_vars={"pve01": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "pve_env": env,
        "pve_root": str(root)}})
    return {"inventory": inv, "root": root, "network": network, "log": log, "runs": tmp_path / "runs"}


def _apply(node: dict[str, Any], reads_back: list[dict[str, str]]) -> runner.RunResult:
    node["network"].write_text(json.dumps(reads_back))
    plan = {"id": "p-net", "actions": [{
        "id": 'network["pve01"]#apply', "phase": "network", "kind": "network_apply", "node": "pve01",
        "address": 'network["pve01"]',
        "params": {"interfaces": [{"name": "eno1", "type": "nic"},
                                  {"name": "vmbr0", "type": "bridge", "ports": ["eno1"],
                                   "address": "192.168.10.11/24"}], "changed": ["vmbr0"]},
        "serial": False,
    }]}
    rd = render_run(plan, runs_root=node["runs"], inventory=node["inventory"])
    return runner.run(rd, secrets={})


def _calls(node: dict[str, Any]) -> list[list[str]]:
    return [json.loads(line) for line in node["log"].read_text().splitlines()]


def test_rejected_interfaces_new_is_removed_and_nothing_is_reloaded(node: dict[str, Any]) -> None:
    result = _apply(node, [{"iface": "eno1", "type": "eth"}])  # PVE does not see vmbr0 as a bridge
    assert not result.ok
    assert any("interfaces.new was rejected and removed" in m for m in result.failure_messages), \
        result.failure_messages
    net = node["root"] / "etc" / "network"
    assert not (net / "interfaces.new").exists()
    assert (net / "interfaces").read_text() == OLD
    assert ["ifreload", "-a"] not in _calls(node)


def test_accepted_file_is_moved_and_reloaded_once(node: dict[str, Any]) -> None:
    result = _apply(node, [{"iface": "eno1", "type": "eth"}, {"iface": "vmbr0", "type": "bridge"}])
    assert result.ok, result.failure_messages
    net = node["root"] / "etc" / "network"
    assert not (net / "interfaces.new").exists()
    assert "iface vmbr0 inet static\n\taddress 192.168.10.11/24\n" in (net / "interfaces").read_text()
    calls = _calls(node)
    assert calls.count(["ifreload", "-a"]) == 1
    # commit-confirm: the revert is scheduled before the reload and cancelled after the checks
    revert = next(i for i, c in enumerate(calls) if c[0] == "systemd-run")
    assert revert < calls.index(["ifreload", "-a"]) < calls.index(["systemctl", "stop",
                                                                   "pve-provision-network-revert.timer"])
    assert not (net / "interfaces.pve-provision-previous").exists()
