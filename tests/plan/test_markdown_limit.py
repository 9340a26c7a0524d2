"""A Markdown plan fits one pull-request comment: GitHub refuses bodies over 65,536
characters, so a large plan is cut at whole lines and points at the full plan."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from plan_helpers import answers

from provision.discover import ApiClient, discover
from provision.discover.replay import ReplayTransport
from provision.plan import make_plan, planfile
from provision.plan.render import render_markdown, summary_line
from provision.plan.render.fit import DEFAULT_LIMIT, GITHUB_COMMENT_LIMIT
from provision.spec import load_stack, load_text

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "provision"
sys.path.insert(0, str(ROOT / "bench"))
from big_stack import big_stack  # noqa: E402


@pytest.fixture(scope="module")
def lab_build() -> dict[str, Any]:
    """The reference stack against blank PVE 8 nodes: six phases and three interfaces diffs."""
    d = discover(ApiClient(ReplayTransport(answers("blank-pve8")), sleep=lambda _: None),
                 hint_nodes=("pve01", "pve02", "pve03"))
    return make_plan(load_stack(ROOT / "stacks" / "lab.yaml").cluster, d.cluster, d.observed,
                     stack="stacks/lab.yaml").to_document()


@pytest.fixture(scope="module")
def big_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 32-node stack against a cluster where 500 HA resources are missing and the
    other 1,500 differ: 2,000 actions, a Markdown plan of about 330 kB."""
    desired = load_text(big_stack(), "stacks/big.yaml").cluster
    observed = desired.model_copy(deep=True)
    for resource in observed.ha.resources:
        resource.max_relocate = 3
    observed.ha.resources = observed.ha.resources[:1500]
    path = tmp_path_factory.mktemp("big") / "plan.json"
    planfile.save(make_plan(desired, observed, None, stack="stacks/big.yaml").to_document(), path)
    return path


def _show(plan: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), "show", plan.name, "--format", "markdown", *args], capture_output=True,
                          text=True, timeout=120, cwd=plan.parent)


def _rows(markdown: str) -> list[str]:
    return re.findall(r"^\| \d+ \| `.*$", markdown, flags=re.M)


def _balanced(markdown: str) -> None:
    """Every <details> is closed and every code fence ends: a cut never breaks the markup."""
    assert markdown.count("<details") == markdown.count("</details>")
    fences = re.findall(r"^(`{3,})(\w*)$", markdown, flags=re.M)
    opened: list[str] = []
    for ticks, info in fences:
        if opened and ticks == opened[-1] and not info:
            opened.pop()
        else:
            opened.append(ticks)
    assert opened == []


@pytest.fixture(scope="module")
def big_whole(big_plan: Path) -> str:
    whole = _show(big_plan, "--markdown-limit", "0")
    assert whole.returncode == 0, whole.stderr
    return whole.stdout


def test_big_plan_is_cut_to_one_github_comment(big_plan: Path, big_whole: str) -> None:
    assert len(big_whole.encode()) > GITHUB_COMMENT_LIMIT
    assert len(_rows(big_whole)) == 2000

    cut = _show(big_plan, "--full-plan-url", "https://github.com/acme/infra/actions/runs/42")
    assert cut.returncode == 0, cut.stderr
    body = cut.stdout
    assert len(body.encode()) <= DEFAULT_LIMIT < GITHUB_COMMENT_LIMIT
    _balanced(body)
    document: dict[str, Any] = planfile.load(big_plan)
    assert body.rstrip().endswith(f"**{summary_line(document)}**")
    assert "| 500 | 1500 | 0 | 0 | 2000 |" in body  # the summary table is never cut
    assert ("Review the whole plan in the plan file `plan.json` (`provision show plan.json`) or "
            "[the full plan](https://github.com/acme/infra/actions/runs/42).") in body
    shown = len(_rows(body))
    assert 100 < shown < 2000
    assert f"*… {2000 - shown} more action(s) of **ha_resources** (2000 action(s)) and their changes" in body
    assert "- **ha_resources** (2000 action(s)): the rest of it" in body
    assert _rows(body) == _rows(big_whole)[:shown]  # the first rows, whole


def test_gitlab_limit_keeps_the_big_plan_whole(big_plan: Path, big_whole: str) -> None:
    assert _show(big_plan, "--markdown-limit", "1000000").stdout == big_whole


@pytest.mark.parametrize(("args", "message"), [
    (["--markdown-limit", "100"], "error: --markdown-limit 100: a Markdown plan needs at least"),
    (["--full-plan-url", "https://x/a) [y](https://evil"], "error: --full-plan-url"),
    (["--full-plan-url", "javascript:alert(1)"], "error: --full-plan-url"),
])
def test_bad_markdown_options_are_one_line(lab_build: dict[str, Any], tmp_path: Path, args: list[str],
                                           message: str) -> None:
    planfile.save(lab_build, tmp_path / "plan.json")
    proc = _show(tmp_path / "plan.json", *args)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1


def test_a_plan_within_the_limit_is_not_touched(lab_build: dict[str, Any]) -> None:
    whole = render_markdown(lab_build, limit=None)
    assert render_markdown(lab_build) == whole
    assert render_markdown(lab_build, limit=len(whole.encode())) == whole
    assert "too long" not in whole


def test_every_cut_keeps_markup_closed_and_within_the_limit(lab_build: dict[str, Any]) -> None:
    whole = render_markdown(lab_build, limit=None)
    assert "```diff" in whole  # the cut has file diffs (code fences) to get right too
    sizes = range(1500, len(whole.encode()), 499)
    for limit in sizes:
        body = render_markdown(lab_build, limit=limit, full_plan="plan.json")
        assert len(body.encode()) <= limit, limit
        _balanced(body)
        assert "**This plan is too long for one comment** (the limit is" in body
        assert body.rstrip().endswith(f"**{summary_line(lab_build)}**")
        listed = body.split("**Not shown** (in the full plan):", 1)[1]
        for phase in lab_build["phases"]:  # each phase is shown whole or named as not shown
            title = f"**{phase['name']}** ({len(phase['actions'])} action(s))"
            assert f"<b>{phase['name']}</b>" in body.split("**Not shown**")[0] or f"- {title}" in listed
