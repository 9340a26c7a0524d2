from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from e2e_lab import Lab, converged, start, stop


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
    with converged(tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("work")) as lab:
        yield lab
