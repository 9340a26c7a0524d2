"""Gate for the real-parts tests: they need root; on CI they must run, never skip."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0 or os.environ.get("CI"):
        return  # as root (or on CI, where a missing root is a failure) the tests run
    skip = pytest.mark.skip(reason="real lab needs root (network namespaces); run as root or via make test")
    for item in items:
        if "tests/real/" in str(item.fspath):
            item.add_marker(skip)
