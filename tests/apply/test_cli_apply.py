"""`provision apply` command-line behaviour that needs no lab."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest
import typer

from provision.apply import runner
from provision.apply.lock import POOL_ID, ApplyLock
from provision.apply.progress import PhaseLines
from provision.cli import apply as cli_apply
from provision.cli.apply import physical_nics
from provision.plan import planfile as planfiles
from provision.spec import load_stack

STACK = Path(__file__).parents[2] / "stacks" / "lab.yaml"


def test_physical_nics_come_from_the_observed_nodes() -> None:
    cluster = load_stack(STACK).cluster
    nics = physical_nics(cluster)
    assert set(nics) == set(cluster.node_names)
    first = cluster.nodes[0]
    assert nics[first.name] == [i.name for i in first.interfaces if i.type == "nic"]
    assert "vmbr0" not in nics[first.name]


def _apply(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVISION_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    env.pop("PROVISION_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "provision", "apply", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (None, "plan.json", "plan.json: no such file"),
        ('{"format_version": "1", "actions": [', "plan.json", "plan.json: not a plan file"),
        ('{"format_version": "1", "actions": [', "saved-plan", "saved-plan: not a plan file"),
        ('{"format_version": "2", "actions": []}', "plan.json", "plan file is missing spec_digest"),
        ("[1, 2]", "plan.json", "not a plan file (expected a JSON object)"),
    ],
)
def test_bad_plan_file_is_one_clear_line(tmp_path: Path, content: str | None, name: str, expected: str) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    proc = _apply(tmp_path, name, "--auto-approve")
    assert proc.returncode == 1
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "yaml" not in proc.stderr.lower()


def test_unknown_lab_is_one_clear_line(tmp_path: Path) -> None:
    proc = _apply(tmp_path, str(STACK), "--lab", "nosuchlab", "--auto-approve")
    assert proc.returncode == 1
    assert "lab 'nosuchlab' is not running" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / ".provision").exists()


def test_quiet_prints_one_line_per_phase() -> None:
    out = io.StringIO()
    view = PhaseLines(out)
    net = "Phase network: network_apply (one node at a time)"
    events: list[dict[str, Any]] = [
        {"event": "playbook_on_start"},
        {"event": "playbook_on_play_start", "event_data": {"play": net}},
        {"event": "runner_on_ok", "event_data": {"task": "Action a001: x", "host": "pve01", "res": {"changed": True}}},
        {"event": "playbook_on_play_start", "event_data": {"play": net}},
        {"event": "playbook_on_play_start", "event_data": {"play": "Phase ceph: ceph_osd_create"}},
        {"event": "runner_on_failed", "event_data": {"task": "Action a002: y", "host": "pve02", "res": {"msg": "x"}}},
    ]
    with view:
        for event in events:
            view(event)
    assert out.getvalue() == f"{net}\nPhase ceph: ceph_osd_create\n"


def test_quiet_and_json_output_are_exclusive(tmp_path: Path) -> None:
    proc = _apply(tmp_path, str(STACK), "--quiet", "--output", "json", "--auto-approve")
    assert proc.returncode == 1
    assert "--quiet and --output json cannot be combined" in proc.stderr
    assert proc.stdout == ""


class _Pools:
    def __init__(self) -> None:
        self.pools: dict[str, str] = {}

    def create(self, poolid: str, comment: str) -> None:
        if poolid in self.pools:
            raise RuntimeError("exists")
        self.pools[poolid] = comment

    def comment(self, poolid: str) -> str | None:
        return self.pools.get(poolid)

    def delete(self, poolid: str) -> None:
        del self.pools[poolid]


def test_ctrl_c_cancels_the_run_reports_it_and_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    desired = load_stack(STACK).cluster
    pools = _Pools()
    monkeypatch.setattr(cli_apply, "_lock_for", lambda _e, d: ApplyLock(pools, d.name, cli_apply.STATE_DIR))
    seen: dict[str, Any] = {}

    def fake_run(run_dir: Any, **kw: Any) -> runner.RunResult:
        seen["held"] = POOL_ID in pools.pools
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C while Ansible runs
        seen["cancel"] = kw["cancel"]()
        return runner.RunResult(status="canceled", rc=1, wall_seconds=0.1, tally=runner.Tally(), events=0,
                                not_done=["a001"], canceled=True)

    monkeypatch.setattr(cli_apply.runner, "run", fake_run)
    document = {"id": "p-int", "actions": [{
        "id": "a001", "phase": "ha_resources", "kind": "ha_resource_add", "node": None,
        "address": 'ha.resource["vm:100"]', "params": {"sid": "vm:100", "state": "started"},
    }]}
    code = cli_apply._execute(document, desired, cast(Any, None), cast(Any, None), None, False,
                              cli_apply.Output.text, False, {}, True)
    assert code == 1
    assert seen == {"held": True, "cancel": True}
    assert pools.pools == {}
    assert not list((tmp_path / ".provision" / "locks").iterdir())
    out = capsys.readouterr().out
    assert "interrupted (Ctrl-C)" in out and "Not done (1)" in out


def _one_action_document() -> dict[str, Any]:
    return {"id": "p-held", "actions": [{
        "id": 'storage["pbs"]#add', "phase": "storage", "kind": "storage_add", "node": None,
        "address": 'storage["pbs"]', "params": {"storage": "pbs", "type": "pbs", "options": {"server": "10.0.0.6"},
                                               "secrets": {"password": {"secret": "env:PVE_PROVISION_TEST_UNSET"}}},
    }]}


def test_refusals_after_rendering_leave_no_run_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A held lock or an unreadable secret stops the apply before Ansible: no run record."""
    monkeypatch.chdir(tmp_path)
    desired = load_stack(STACK).cluster
    pools = _Pools()
    pools.create(POOL_ID, "pve-provision lock {}")  # someone else holds the cluster lock
    monkeypatch.setattr(cli_apply, "_lock_for", lambda _e, d: ApplyLock(pools, d.name, cli_apply.STATE_DIR))
    monkeypatch.setattr(cli_apply.runner, "run", lambda *a, **k: pytest.fail("Ansible must not run"))
    runs = tmp_path / ".provision" / "runs"

    monkeypatch.delenv("PVE_PROVISION_TEST_UNSET", raising=False)
    with pytest.raises(typer.Exit):
        cli_apply._execute(_one_action_document(), desired, cast(Any, None), cast(Any, None), None, False,
                           cli_apply.Output.text, False, {}, False)
    assert list(runs.iterdir()) == []

    monkeypatch.setenv("PVE_PROVISION_TEST_UNSET", "long-enough-secret")
    with pytest.raises(typer.Exit):
        cli_apply._execute(_one_action_document(), desired, cast(Any, None), cast(Any, None), None, False,
                           cli_apply.Output.text, False, {}, False)
    assert list(runs.iterdir()) == []


def test_plan_file_is_shown_before_the_prompt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Applying a stored plan asks 'yes?' only after showing what it will do."""
    from types import SimpleNamespace

    from typer.testing import CliRunner

    stack = tmp_path / "lab.yaml"
    stack.write_text(STACK.read_text())
    document = {"format_version": "2", "stack": str(stack), "spec_digest": "sha256:x", "observed_fingerprint": "fp",
                "cluster": {"name": "lab"}, "changes": [], "summary": {"add": 1, "change": 0, "destroy": 0},
                "actions": _one_action_document()["actions"], "phases": []}
    planfile = tmp_path / "plan.json"
    planfiles.save(document, planfile)
    observed = SimpleNamespace(identity=lambda: {"name": "lab"}, fingerprint="fp", pve_version=8)
    monkeypatch.setattr(cli_apply, "from_connection", lambda *a, **k: SimpleNamespace(insecure=False))
    monkeypatch.setattr(cli_apply.ApiClient, "for_endpoint", staticmethod(lambda e: None))
    monkeypatch.setattr(cli_apply, "discover", lambda *a, **k: SimpleNamespace(observed=observed, cluster=None))
    monkeypatch.setattr(cli_apply, "spec_digest", lambda d: "sha256:x")
    monkeypatch.setattr(cli_apply, "_render", lambda doc, fmt: "PLAN TEXT: pvesm add pbs\n")

    def confirm(count: int, auto_approve: bool) -> None:
        typer.echo(f"Apply {count} action(s)? no")
        raise typer.Exit(1)

    monkeypatch.setattr(cli_apply, "_confirm", confirm)
    monkeypatch.setattr(cli_apply, "_execute", lambda *a: pytest.fail("declined: nothing may run"))
    app = typer.Typer()
    app.command()(cli_apply.apply_cmd)
    result = CliRunner().invoke(app, [str(planfile)])
    assert result.exit_code == 1, result.output
    assert "PLAN TEXT: pvesm add pbs" in result.output, result.output
    assert result.output.index("PLAN TEXT") < result.output.index("Apply 1 action(s)"), result.output


def test_a_lock_that_cannot_be_released_is_a_warning_not_the_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    desired = load_stack(STACK).cluster

    class Unreachable(_Pools):
        def comment(self, poolid: str) -> str | None:
            if self.pools:
                raise ConnectionError("API went away")
            return None

    pools = Unreachable()
    monkeypatch.setattr(cli_apply, "_lock_for", lambda _e, d: ApplyLock(pools, d.name, cli_apply.STATE_DIR))
    monkeypatch.setattr(cli_apply.runner, "run", lambda *a, **k: runner.RunResult(
        status="failed", rc=2, wall_seconds=0.1, tally=runner.Tally(), events=0, failed=["a001"],
        failure_messages=["pve01: boom"]))
    monkeypatch.setenv("PVE_PROVISION_TEST_UNSET", "long-enough-secret")
    code = cli_apply._execute(_one_action_document(), desired, cast(Any, None), cast(Any, None), None, False,
                              cli_apply.Output.text, False, {}, False)
    assert code == 1  # the run's failure, reported as such
    captured = capsys.readouterr()
    assert "pve01: boom" in captured.out
    assert "could not release the cluster lock" in captured.err and "--force-unlock" in captured.err
