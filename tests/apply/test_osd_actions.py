"""OSD actions through real Ansible against fake node CLIs answering from a PVE-shaped
OSD tree (root → `default` → host → OSDs, as GET /nodes/{node}/ceph/osd returns it)."""

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
state_file = os.environ["FAKE_STATE"]
state = json.load(open(state_file))
cmd = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([cmd] + args) + "\n")
osds = state["osds"]
if cmd == "pvesh" and args[0] == "get":
    path = args[1]
    if path == "/cluster/status":
        print(json.dumps([{{"type": "cluster", "name": "lab", "quorate": 1}}]))
    elif path == "/nodes/pve01/disks/list":
        print(json.dumps(state["disks"]))
    elif path == "/nodes/pve01/ceph/osd":
        leaves = [{{"id": int(i), "name": "osd." + i, "type": "osd", "leaf": 1, "device_class": o["class"],
                   "in": o["in"], "status": "up" if o["up"] else "down"}} for i, o in sorted(osds.items())]
        host = {{"id": -2, "name": "pve01", "type": "host", "leaf": 0, "children": leaves}}
        print(json.dumps({{"root": {{"leaf": 0, "children": [
            {{"id": -1, "name": "default", "type": "root", "leaf": 0, "children": [host]}}]}}, "flags": ""}}))
    elif path == "/nodes/pve01/ceph/cmd-safety":
        # drained as soon as it is out (no other OSDs hold copies in this fake)
        osd = osds[args[args.index("--id") + 1]]
        print(json.dumps({{"safe": int(not osd["in"]), "status": ""}}))
    else:
        sys.exit(2)
elif cmd == "pvecm" and args[0] == "status":
    print("Quorate:          Yes")
elif cmd == "ceph" and args[:2] == ["osd", "out"]:
    osds[args[2]]["in"] = 0
elif cmd == "ceph" and args[:3] == ["osd", "crush", "rm-device-class"]:
    osds[args[3][4:]]["class"] = ""
elif cmd == "ceph" and args[:3] == ["osd", "crush", "set-device-class"]:
    osds[args[4][4:]]["class"] = args[3]
elif cmd == "systemctl" and args[0] == "stop":
    osds[args[1].split("@")[1].split(".")[0]]["up"] = 0
elif cmd == "pveceph" and args[:2] == ["osd", "destroy"]:
    o = osds[args[2]]
    if o["in"] or o["up"]:
        print("OSD is still in or up", file=sys.stderr); sys.exit(1)
    del osds[args[2]]
else:
    print("unexpected " + " ".join(args), file=sys.stderr); sys.exit(9)
if cmd not in ("pvesh", "pvecm"):  # reads run side by side (the phase probe): only writes write, atomically
    tmp = state_file + "." + str(os.getpid())
    json.dump(state, open(tmp, "w"))
    os.replace(tmp, state_file)
'''


@pytest.fixture
def node(tmp_path: Path) -> dict[str, Any]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("pvesh", "pvecm", "ceph", "systemctl", "pveceph"):
        script = bin_dir / name
        script.write_text(FAKE.format(python=sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    state = tmp_path / "state.json"
    # osd.7's disk died: it is no longer in the disk list, but the OSD is still in the tree
    state.write_text(json.dumps({"disks": [{"devpath": "/dev/sdb", "osdid": 3, "used": "LVM"}],
                                 "osds": {"3": {"class": "hdd", "in": 1, "up": 1},
                                          "7": {"class": "ssd", "in": 1, "up": 1}}}))
    log = tmp_path / "calls.log"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_STATE": str(state), "FAKE_LOG": str(log)}
    inv = Inventory(hosts=["pve01"], host_vars={"pve01": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "pve_env": env}})
    return {"inventory": inv, "state": state, "log": log, "runs": tmp_path / "runs"}


def _run(node: dict[str, Any], kind: str, params: dict[str, Any]) -> tuple[runner.RunResult, list[list[str]]]:
    plan = {"id": f"p-{kind}", "actions": [{
        "id": 'ceph.osd["pve01:/dev/sdx"]#' + ("destroy" if kind.endswith("destroy") else "set"),
        "phase": "ceph", "kind": kind, "node": "pve01", "address": 'ceph.osd["pve01:/dev/sdx"]',
        "params": params,
    }]}
    node["log"].unlink(missing_ok=True)
    rd = render_run(plan, runs_root=node["runs"], inventory=node["inventory"])
    result = runner.run(rd, secrets={})
    log = node["log"]
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, [c for c in calls if c[0] != "pvesh" and c[:2] != ["pvecm", "status"]]


def test_osd_destroy_of_a_dead_disk_runs_out_stop_destroy_once(node: dict[str, Any]) -> None:
    params = {"osd_id": 7, "device": "/dev/sdx", "cleanup": True}
    result, writes = _run(node, "ceph_osd_destroy", params)
    assert result.ok, result.failure_messages
    assert writes == [["ceph", "osd", "out", "7"], ["systemctl", "stop", "ceph-osd@7.service"],
                      ["pveceph", "osd", "destroy", "7", "--cleanup", "1"]]
    assert "7" not in json.loads(node["state"].read_text())["osds"]
    again, writes = _run(node, "ceph_osd_destroy", params)
    assert again.ok and writes == [] and again.tally.changed == 0


def test_osd_set_reads_the_class_from_the_tree(node: dict[str, Any]) -> None:
    result, writes = _run(node, "ceph_osd_set", {"osd_id": 3, "device": "/dev/sdb", "device_class": "ssd"})
    assert result.ok, result.failure_messages
    assert writes == [["ceph", "osd", "crush", "rm-device-class", "osd.3"],
                      ["ceph", "osd", "crush", "set-device-class", "ssd", "osd.3"]]
    again, writes = _run(node, "ceph_osd_set", {"osd_id": 3, "device": "/dev/sdb", "device_class": "ssd"})
    assert again.ok and writes == [] and again.tally.changed == 0
