"""Shared inputs for planner tests: the reference stack and observed fixtures (import as plan_helpers)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from provision.discover import ApiClient, Discovery, discover
from provision.discover.replay import ReplayTransport
from provision.spec import Cluster, load_stack, load_text

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "api"

Observe = Callable[..., Discovery]


def answers(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


@pytest.fixture
def lab_stack() -> Cluster:
    return load_stack(ROOT / "stacks" / "lab.yaml").cluster


@pytest.fixture
def lab_text() -> str:
    return (ROOT / "stacks" / "lab.yaml").read_text()


def stack_from(text: str) -> Cluster:
    return load_text(text, "test.yaml").cluster


@pytest.fixture
def observe() -> Observe:
    def run(name: str, mutate: Callable[[dict[str, Any]], None] | None = None,
            hints: tuple[str, ...] = ("pve01", "pve02", "pve03")) -> Discovery:
        data = answers(name)
        if mutate is not None:
            mutate(data)
        return discover(ApiClient(ReplayTransport(data), sleep=lambda _: None), hint_nodes=hints)

    return run
