"""Issue 14 item 8 on PVE 9: a node-affinity rule whose priorities change moves the
guests it names; the plan says which, from live placement, and the lab's HA manager
(PVE 9 rules) moves them there."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_lab import REPO, Lab, start, stop

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]


def _stack(path: Path, edit: bool) -> Path:
    text = (REPO / "stacks" / "pve9-example.yaml").read_text()
    text = re.sub(r"connection:\n  api:\n(    .*\n)+", "connection:\n  lab: default\n", text)
    if edit:
        old = "nodes: {pve01: 2, pve02: 2, pve03: 1}"
        assert old in text
        text = text.replace(old, "nodes: {pve01: 1, pve02: 1, pve03: 2}")
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def pve9(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("work")
    lab = start(tmp_path_factory.mktemp("home"), work, "--pve", "9", "--nodes", "5", "--from",
                str(_stack(work / "base.yaml", False)))
    try:
        yield lab
    finally:
        stop(lab)


def test_a_rule_priority_change_names_the_guests_it_migrates(pve9: Lab) -> None:
    stack = _stack(pve9.work / "move.yaml", True)
    plan = pve9.cli("plan", str(stack))
    assert plan.returncode == 0, plan.stderr
    assert '~ ha.rule["web-prefer"]  [guest impact]' in plan.stdout
    assert "! migrates vm:100 pve01 → pve03 (live migration)" in plan.stdout
    assert "! migrates vm:101 pve02 → pve03 (live migration)" in plan.stdout
    assert "Guest impact: migrates vm:100, vm:101." in plan.stdout
    applied = pve9.cli("apply", str(stack), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    rows: list[tuple[str, str]] = []
    for _ in range(60):
        rows = re.findall(r"│ (vm:10[01]) +│ started +│ (\w+) +│ started +│", pve9.cli("lab", "status").stdout)
        if sorted(rows) == [("vm:100", "pve03"), ("vm:101", "pve03")]:
            break
        time.sleep(1)
    assert sorted(rows) == [("vm:100", "pve03"), ("vm:101", "pve03")]
