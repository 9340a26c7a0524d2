"""The runner with real ansible-runner + ansible-core against fake node CLIs.

The fake `pvesh`/`pvesm`/`pvecm` are tiny scripts that log their argv to a file outside
the run directory and answer from a JSON state file, so these tests need no lab: they
check secrets handling, failure reporting and guards through the real Ansible path.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from provision.apply import record, runner
from provision.apply.render import Inventory, render_run

SECRET = "s3cr3t-PBS-value-4711"

FAKE = r'''#!{python}
import json, os, sys
state_file = os.environ["FAKE_STATE"]
state = json.load(open(state_file))
cmd = os.path.basename(sys.argv[0])
args = sys.argv[1:]
logged = list(args)
if cmd == "pvesm" and "--password" in args:
    i = args.index("--password")
    if i + 1 == len(args) or args[i + 1].startswith("-"):  # pvesm then reads a line from stdin
        logged += ["<stdin>", sys.stdin.readline().rstrip("\n")]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([cmd] + logged) + "\n")
if cmd == "pvesh" and args[0] == "get":
    path = args[1]
    if path == "/cluster/status":
        print(json.dumps([{{"type": "cluster", "name": "lab", "quorate": 1}}]))
    elif path == "/storage":
        print(json.dumps([{{"storage": s}} for s in state["storages"]]))
    else:
        print("no such path", file=sys.stderr); sys.exit(2)
elif cmd == "pvecm" and args[0] == "status":
    print("Quorate:          " + ("Yes" if state.get("quorate", True) else "No"))
elif cmd == "pvesm" and args[0] == "add":
    if state.get("fail_add"):
        print("storage add failed: backend said no", file=sys.stderr); sys.exit(5)
    state["storages"].append(args[2])
    json.dump(state, open(state_file, "w"))
else:
    print("unexpected " + " ".join(args), file=sys.stderr); sys.exit(9)
'''


@pytest.fixture
def fake_node(tmp_path: Path) -> dict[str, Any]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("pvesh", "pvecm", "pvesm"):
        script = bin_dir / name
        script.write_text(FAKE.format(python=sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"storages": ["local"]}))
    log = tmp_path / "calls.log"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_STATE": str(state), "FAKE_LOG": str(log)}
    inv = Inventory(
        hosts=["pve01"],
        host_vars={"pve01": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                             "pve_env": env}},
    )
    return {"inventory": inv, "state": state, "log": log, "runs": tmp_path / "runs"}


def _plan(pid: str) -> dict[str, Any]:
    return {
        "id": pid,
        "actions": [{
            "id": 'storage["pbs"]#add', "phase": "storage", "kind": "storage_add", "node": None,
            "address": 'storage["pbs"]',
            "params": {"storage": "pbs", "type": "pbs", "options": {"server": "10.0.0.6", "datastore": "main",
                                                                     "username": "backup@pbs", "content": "backup"},
                       "secrets": {"password": {"secret": "env:PBS_PASSWORD"}}},
        }],
    }


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.ansible
def test_secret_reaches_the_node_but_never_the_run_dir(fake_node: dict[str, Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PBS_PASSWORD", SECRET)
    rd = render_run(_plan("p1"), runs_root=fake_node["runs"], inventory=fake_node["inventory"])
    events = record.EventLog(rd.root / "events.jsonl")
    exposed: set[str] = set()

    def on_event(event: Any) -> None:
        # While Ansible runs, no process's command line (world-readable in /proc) may
        # carry the secret: it travels in ansible-playbook's environment only.
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                argv = cmdline.read_bytes()
            except OSError:
                continue
            # No command line carries it: not ansible-playbook's, not its workers', and
            # not pvesm's (it reads the password from stdin).
            if SECRET.encode() in argv:
                exposed.add(argv.replace(b"\0", b" ").decode(errors="replace")[:80])
        events(event)

    try:
        result = runner.run(rd, secrets={"PVE_PROVISION_SECRET_PBS_PASSWORD": SECRET}, blank_env=("PBS_PASSWORD",),
                            on_event=on_event)
    finally:
        events.close()
    record.write_summary(rd.root, result)
    assert result.ok, result.failure_messages
    assert exposed == set()
    assert result.done == ['storage["pbs"]#add'] and result.tally.changed == 1
    adds = [c for c in _calls(fake_node["log"]) if c[:2] == ["pvesm", "add"]]
    assert adds and adds[0][adds[0].index("<stdin>") + 1] == SECRET  # the node got it, on stdin
    assert SECRET not in adds[0][:adds[0].index("<stdin>")]  # and not as an argument
    assert (rd.root / "events.jsonl").stat().st_size > 0
    assert record.find_secrets(rd.root, [SECRET]) == []
    record.assert_no_secrets(rd.root, [SECRET])
    assert not (rd.root / "artifacts").exists()


def test_secret_scan_can_fail(tmp_path: Path) -> None:
    (tmp_path / "x.log").write_text(f"oops {SECRET}\n")
    with pytest.raises(record.SecretLeakError, match=r"x\.log"):
        record.assert_no_secrets(tmp_path, [SECRET])


@pytest.mark.ansible
def test_rerun_is_guarded(fake_node: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    state = json.loads(fake_node["state"].read_text())
    state["storages"].append("pbs")
    fake_node["state"].write_text(json.dumps(state))
    rd = render_run(_plan("p2"), runs_root=fake_node["runs"], inventory=fake_node["inventory"])
    result = runner.run(rd, secrets={"PVE_PROVISION_SECRET_PBS_PASSWORD": SECRET})
    assert result.ok and result.tally.changed == 0 and result.done == ['storage["pbs"]#add']
    assert not [c for c in _calls(fake_node["log"]) if c[:2] == ["pvesm", "add"]]


@pytest.mark.ansible
def test_failure_is_reported_not_raised(fake_node: dict[str, Any]) -> None:
    state = json.loads(fake_node["state"].read_text())
    state["fail_add"] = True
    fake_node["state"].write_text(json.dumps(state))
    rd = render_run(_plan("p3"), runs_root=fake_node["runs"], inventory=fake_node["inventory"])
    result = runner.run(rd, secrets={"PVE_PROVISION_SECRET_PBS_PASSWORD": SECRET})
    assert not result.ok and result.status == "failed"
    assert result.failed == ['storage["pbs"]#add'] and result.done == []
    # no_log hides the output, and says so instead of printing the command line
    assert any("no_log" in m for m in result.failure_messages)


@pytest.mark.ansible
def test_not_quorate_stops_before_any_action(fake_node: dict[str, Any]) -> None:
    state = json.loads(fake_node["state"].read_text())
    state["quorate"] = False
    fake_node["state"].write_text(json.dumps(state))
    rd = render_run(_plan("p4"), runs_root=fake_node["runs"], inventory=fake_node["inventory"])
    result = runner.run(rd, secrets={"PVE_PROVISION_SECRET_PBS_PASSWORD": SECRET})
    assert not result.ok and result.not_done == ['storage["pbs"]#add']
    assert any("not quorate" in m for m in result.failure_messages), result.failure_messages
    assert not [c for c in _calls(fake_node["log"]) if c[:2] == ["pvesm", "add"]]
