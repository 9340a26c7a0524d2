"""Every string parameter of every kind, filled with template markers, YAML markers,
quotes and newlines: either the kind's params model refuses it (it can never reach a
plan), or it reaches the commands as literal text and Ansible evaluates nothing.

Runs each case's tasks through ansible-core's own template engine (taskrun), the same
engine and trust rules ansible-playbook uses; tests/apply/test_e2e_injection.py does
the same with real ansible-playbook against the lab, in check mode and for real.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from taskrun import run_case

from provision.actions import Action, ActionError

CASES = sorted((Path(__file__).parent / "cases").glob("*/*.json"))


def _payloads(marker: Path) -> list[str]:
    return [
        "{{ lookup('pipe', 'touch " + str(marker) + "') }}",
        "{% for x in [lookup('pipe', 'touch " + str(marker) + "')] %}{% endfor %}",
        "{#  #}{{ 7 * 7 }}",
        "x\n  - injected: yes",
        "'\"]}{[&*!|>%@`",
    ]


def _string_leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "secret":
                yield from _string_leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _string_leaves(v, (*path, i))


def _set(params: dict[str, Any], path: tuple[Any, ...], value: str) -> None:
    target: Any = params
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def _texts(records: list[dict[str, Any]]) -> str:
    return json.dumps(records, ensure_ascii=False)


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_hostile_string_values_are_refused_or_stay_literal(path: Path, tmp_path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    marker = tmp_path / "evaluated"
    reached = 0
    for leaf in _string_leaves(case["action"]["params"]):
        for payload in _payloads(marker):
            hostile = copy.deepcopy(case)
            _set(hostile["action"]["params"], leaf, payload)
            try:
                Action.from_json(hostile["action"])
            except ActionError:
                continue  # refused by the kind's model: it cannot be in any plan
            records = run_case(hostile, tmp_path)
            assert not any("render_error" in r for r in records), records
            assert not marker.exists(), f"{leaf}: {payload!r} was evaluated"
            assert "49" not in _texts(records) or "49" in json.dumps(case), f"{leaf}: {{{{ 7 * 7 }}}} was evaluated"
            reached += 1
    assert not marker.exists()
