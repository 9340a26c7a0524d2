"""Fixtures: one real lab per test module (``lab up`` takes well under 2 s), always torn down."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from labkit import LabHandle, start_lab, stop_lab


def _lab_fixture(*args: str) -> Callable[..., Iterator[LabHandle]]:
    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHandle]:
        home = tmp_path_factory.mktemp("home")
        lab = start_lab(home, "t", *args)
        try:
            yield lab
        finally:
            stop_lab(lab)

    return fixture


lab8 = _lab_fixture("--nodes", "3", "--pve", "8", "--qnetd", "10.0.0.99")
lab9 = _lab_fixture("--nodes", "3", "--pve", "9")
lab_from_stack = _lab_fixture("--from", str(Path(__file__).resolve().parents[2] / "stacks" / "lab.yaml"))
