"""Suite-wide collection order: the longest modules first.

`make test` runs `pytest -n 2 --dist loadfile`: xdist hands whole files to its two
workers in collection order. The real-parts modules (real corosync and Ceph in
network namespaces) and the end-to-end applies take minutes each and sort last by
name, so by default they start when everything else is done and one worker runs
them alone at the end. Started first, they overlap with the many short modules and
the wall time approaches half the total work.

pytest-xdist (3.x) would reorder the files by their number of tests, most first, which
put the one- to five-test real-parts modules at the very end again; pyproject's addopts
pass `--no-loadscope-reorder` so the order below is the order the workers get.
"""

from __future__ import annotations

import pytest

# Path prefixes (from the repository root), longest-running first. Anything else keeps
# its place after these.
LONG_FIRST = (
    "tests/real/test_real_ceph.py",
    "tests/real/test_real_quorum.py",
    "tests/real/",
    "tests/apply/test_e2e",
    "tests/packaging/",
    "tests/cli/test_lazy_cli.py",
    "tests/examples/",
    "tests/pulumi/",
    "tests/apply/",
    "tests/cli/",
    "tests/lab/",
)


def _rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    for i, prefix in enumerate(LONG_FIRST):
        if path.startswith(prefix):
            return i
    return len(LONG_FIRST)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stable sort: files keep their internal order, tests within a file too."""
    items.sort(key=_rank)
