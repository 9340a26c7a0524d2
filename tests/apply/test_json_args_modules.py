"""Our "JSON args" modules (library/pve_command.py, pve_probe.py, pve_line.py, pve_batch.py) get their
arguments as text Ansible pastes into the module's source. Run through real
ansible-playbook, any value arrives byte for byte: quotes of every kind, backslashes,
line breaks, non-ASCII text and Ansible's own marker; and a command is an argv list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from provision.apply.render import PLAYBOOKS_DIR

pytestmark = [pytest.mark.ansible]

HOSTILE = [
    "a'''b\"\"\"c",
    'end with a backslash \\',
    "\\n is not a line break, but\nthis is",
    "r\"\"\"<<INCLUDE_ANSIBLE_MODULE_JSON_ARGS>>\"\"\"; import os",
    "<<INCLUDE_ANSIBLE_MODULE_COMPLEX_ARGS>> syslog.LOG_USER",
    "Grüße 😀 \u2028",
    "$(touch /tmp/pwned) `id` ; | &",
]


def _playbook(tmp_path: Path, tasks: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    """Each task's registered result by its name (every task registers; a last task
    writes them all to a file, so no output format is parsed)."""
    names = [str(t["name"]) for t in tasks]
    tasks = [{**t, "register": f"r_{t['name']}"} for t in tasks] + [{
        "name": "write the results", "ansible.builtin.copy": {
            "dest": str(tmp_path / "results.json"),
            "content": "{{ dict(" + json.dumps(names) + " | zip([" + ", ".join(f"r_{n}" for n in names)
                       + "])) | to_json }}"}}]
    (tmp_path / "pb.yml").write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    (tmp_path / "values.json").write_text(json.dumps({"values": HOSTILE}))
    env = {**os.environ, "ANSIBLE_LIBRARY": str(PLAYBOOKS_DIR / "library"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
    bindir = Path(sys.executable).parent
    proc = subprocess.run([str(bindir / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", f"ansible_python_interpreter={sys.executable}", "-e", "@values.json", "pb.yml"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results: dict[str, dict[str, object]] = json.loads((tmp_path / "results.json").read_text())
    return results


def test_pve_command_gets_every_value_as_it_was_and_runs_it_as_argv(tmp_path: Path) -> None:
    results = _playbook(tmp_path, [
        {"name": f"v{i}", "pve_command": {"argv": ["printf", "%s", f"{{{{ values[{i}] }}}}"]}}
        for i in range(len(HOSTILE))])
    assert [results[f"v{i}"]["stdout"] for i in range(len(HOSTILE))] == HOSTILE
    assert all(r["changed"] and r["rc"] == 0 for r in results.values())
    assert not Path("/tmp/pwned").exists()


def test_pve_command_fails_with_the_commands_stderr_and_a_check_that_never_holds(tmp_path: Path) -> None:
    results = _playbook(tmp_path, [
        {"name": "fails", "pve_command": {"argv": ["sh", "-c", "echo 'no such pool' >&2; exit 2"]},
         "ignore_errors": True},
        {"name": "unchecked", "pve_command": {"argv": ["true"], "check": {"path": "/nowhere", "match": {"a": 1}}},
         "ignore_errors": True},
    ])
    assert results["fails"]["failed"] and results["fails"]["msg"] == "no such pool"
    assert results["fails"]["rc"] == 2
    # no pvesh here: the read-back fails, so the result is "not there"
    assert results["unchecked"]["failed"]
    assert results["unchecked"]["msg"] == "the command ended without an error, but the result is not there"


def test_pve_line_adds_a_hostile_line_and_reads_a_file(tmp_path: Path) -> None:
    key = tmp_path / "id.pub"
    key.write_text("ssh-ed25519 AAAA root@pve01\n")
    target = tmp_path / "known_hosts"
    results = _playbook(tmp_path, [
        {"name": "line", "pve_line": {"path": str(target), "line": "{{ values[0] }}", "read": str(key)}},
        {"name": "again", "pve_line": {"path": str(target), "line": "{{ values[0] }}"}},
    ])
    assert results["line"]["content"] == key.read_text() and results["line"]["changed"]
    assert not results["again"]["changed"]
    assert target.read_text() == HOSTILE[0] + "\n"


def test_pve_batch_runs_hostile_members_as_argv_and_stops_at_the_first_failure(tmp_path: Path) -> None:
    """A batch as the templates write it (one list expression): each member's argv arrives
    byte for byte; a member whose guard says no is done without running; the first failed
    command stops the batch and is named, with what finished before it."""
    out = tmp_path / "out"
    members = ", ".join(
        f"{{'label': 'a{i:03d}', 'run': true, 'argv': ['sh', '-c', 'printf %s\\\\0 \"$1\" >> \"$0\"', "
        f"'{out}', values[{i}]]}}" for i in range(len(HOSTILE)))
    results = _playbook(tmp_path, [
        {"name": "all", "pve_batch": {"commands": "{{ [" + members + "] }}"}},
        {"name": "stops", "ignore_errors": True, "pve_batch": {"commands": [
            {"label": "b001", "run": False, "argv": ["false"]},
            {"label": "b002", "run": True, "argv": ["true"]},
            {"label": "b003", "run": True, "argv": ["sh", "-c", "echo 'no such group' >&2; exit 2"]},
            {"label": "b004", "run": True, "argv": ["true"]}]}},
    ])
    assert out.read_text().split("\0")[:-1] == HOSTILE
    assert results["all"]["ran"] == [f"a{i:03d}" for i in range(len(HOSTILE))] and results["all"]["changed"]
    stops = results["stops"]
    assert stops["failed"] and stops["failed_action"] == "b003" and stops["stderr"] == "no such group\n"
    assert stops["done"] == ["b001", "b002"] and stops["ran"] == ["b002"]
    assert not Path("/tmp/pwned").exists()
