"""Apply as a library: `provision.apply.apply()` called in-process (no CLI), with a
Reporter of our own, against a lab built from a small stack, and
`provision.plan.plan_stack` to check the result. The change is one HA group priority,
so the run is short. State goes where `ApplyOptions.state_dir` says, nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from e2e_lab import SECRET, Lab, start, stop

from provision.apply import ApplyError, ApplyOptions, LockInfo, Reporter, apply
from provision.plan import plan_stack

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

SMALL = Path(__file__).parents[1] / "packaging" / "small.yaml"
WEB = "{name: web, nodes: {pve01: 2, pve02: 2, pve03: 1}}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = start(tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("work"), "--from", str(SMALL))
    try:
        yield lab
    finally:
        stop(lab)


def _changed_stack(tmp_path: Path) -> Path:
    text = SMALL.read_text()
    assert WEB in text
    path = tmp_path / "small.yaml"
    path.write_text(text.replace(WEB, WEB.replace("pve03: 1", "pve03: 3")))
    return path


class Recorder(Reporter):
    def __init__(self, answer: bool = False) -> None:
        self.answer = answer
        self.seen: list[str] = []
        self.events: list[dict[str, Any]] = []

    def plan(self, document: Mapping[str, Any], *, from_file: bool) -> None:
        self.seen.append(f"plan {len(document.get('actions', []))}")

    def confirm(self, count: int) -> bool:
        self.seen.append(f"confirm {count}")
        return self.answer

    def lock_taken(self, info: LockInfo, cluster: str) -> None:
        self.seen.append(f"lock {cluster}")

    def running(self, total_actions: int) -> Any:
        from contextlib import nullcontext

        self.seen.append("running")
        return nullcontext(self.events.append)


@pytest.fixture()
def env(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Lab:
    monkeypatch.setenv("PROVISION_HOME", str(lab.home))
    monkeypatch.setenv("PBS_PASSWORD", SECRET)
    return lab


def test_a_declined_confirmation_changes_nothing(env: Lab, tmp_path: Path) -> None:
    stack = _changed_stack(tmp_path)
    recorder = Recorder(answer=False)
    with pytest.raises(ApplyError, match="not confirmed"):
        apply(stack, ApplyOptions(state_dir=tmp_path / "state"), recorder)
    assert recorder.seen[0].startswith("plan ") and recorder.seen[1].startswith("confirm ")
    assert not (tmp_path / "state" / "runs").exists() or not list((tmp_path / "state" / "runs").iterdir())
    assert [a["kind"] for a in plan_stack(stack).document["actions"]] == ["ha_group_set"]


def test_apply_from_python_converges_and_keeps_state_where_told(env: Lab, tmp_path: Path) -> None:
    stack = _changed_stack(tmp_path)
    state = tmp_path / "state"
    recorder = Recorder(answer=True)
    outcome = apply(stack, ApplyOptions(state_dir=state), recorder)
    assert outcome.status == "applied", (outcome.status, outcome.result and outcome.result.failure_messages)
    assert outcome.ok and outcome.run_dir is not None and outcome.run_dir.parent == state / "runs" / "lab"
    assert [s.split()[0] for s in recorder.seen] == ["plan", "confirm", "lock", "running"]
    assert any(e.get("event") == "playbook_on_stats" for e in recorder.events)
    # one field changed: the phase probe (reads and quorum in one task) and the command, on
    # the one node that runs it; no other node sees a task, not even a skipped one
    ran = [e for e in recorder.events if e.get("event") in ("runner_on_ok", "runner_on_failed", "runner_on_skipped")
           and not str(e["event_data"].get("task_action", "")).endswith("include_tasks")]
    assert len({e["event_data"]["host"] for e in ran}) == 1, ran
    assert not [e for e in ran if e["event"] == "runner_on_skipped"]
    assert len(ran) <= 3 and outcome.result is not None and outcome.result.tally.tasks == len(ran)
    assert not (env.home / "runs").exists()  # state_dir wins over $PROVISION_HOME
    assert not list((state / "locks").iterdir())  # released
    assert not plan_stack(stack).changed
    again = apply(stack, ApplyOptions(auto_approve=True, state_dir=state))
    assert again.status == "no_changes" and again.result is None
