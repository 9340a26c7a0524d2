"""Per-kind cases as data (tests/actions/cases/<kind>/<case>.json), collected automatically.

Each case is an action as a plan file carries it, the results its read-only probes get
and, in `expect`, exactly what its tasks then do: every command with its full argv (or
`runs: false` when its guard skips it), files written, failed assertions. Set
PROVISION_REGEN_CASES=1 to rewrite `expect` from the current templates, then review
the diff: an expectation is only as good as the review of that diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from taskrun import run_case

from provision.actions import Kind

CASES = Path(__file__).parent / "cases"
ALL = sorted(CASES.glob("*/*.json"))


@pytest.mark.parametrize("path", ALL, ids=[f"{p.parent.name}/{p.stem}" for p in ALL])
def test_case(path: Path, tmp_path: Path) -> None:
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    assert case["action"]["kind"] == path.parent.name, "a case lives in its kind's folder"
    got = run_case(case, tmp_path)
    if os.environ.get("PROVISION_REGEN_CASES"):
        case["expect"] = got
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert got == case["expect"]


def test_every_kind_has_cases() -> None:
    assert {p.name for p in CASES.iterdir() if p.is_dir()} == {k.value for k in Kind}
    assert all(any((CASES / k.value).glob("*.json")) for k in Kind)
