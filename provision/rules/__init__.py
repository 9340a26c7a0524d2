"""Best-practice checks over a `Cluster`.

Each rule is a small function with a stable id (`PVE-Q001`, `PVE-CEPH005`, ...), a
severity and a title; its docstring says why it matters and how to fix it. Rules
report `Finding`s that carry the spec path (`loc`) of the offending value, which
`LoadedStack.position(loc)` turns into FILE:LINE:COL.

    from provision.rules import run
    for finding in run(stack.cluster, disable={"PVE-CEPH010"}):
        ...
"""

from __future__ import annotations

# Importing the rule modules registers their rules.
from provision.rules import (  # noqa: F401
    backups,
    ceph,
    corosync,
    ha,
    hapolicy,
    network,
    quorum,
    storage,
)
from provision.rules.registry import (
    AREAS,
    SEVERITIES,
    Finding,
    Hit,
    Loc,
    Rule,
    Severity,
    all_rules,
    get_rule,
    run,
)

__all__ = [
    "AREAS",
    "SEVERITIES",
    "Finding",
    "Hit",
    "Loc",
    "Rule",
    "Severity",
    "all_rules",
    "get_rule",
    "run",
]
