from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_lab import Lab, stack_copy, start, stop


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A blank 3-node lab for the module (a module that needs another lab overrides this)."""
    lab = start(tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("work"))
    try:
        yield lab
    finally:
        stop(lab)


@pytest.fixture(scope="module")
def built_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab already converged with stacks/lab.yaml (`lab up --from`), for a module whose
    tests change a built cluster rather than build one."""
    work = tmp_path_factory.mktemp("work")
    lab = start(tmp_path_factory.mktemp("home"), work, "--from", str(stack_copy(work / "base.yaml")))
    try:
        yield lab
    finally:
        stop(lab)
