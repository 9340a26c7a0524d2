"""After apply: read the cluster again and require that nothing is left to do.

A playbook that reports success only proves that commands exited 0. Convergence is
the real contract (a converged cluster plans to zero changes), so apply re-discovers and
diffs with the same code the planner uses; whatever remains is printed and fails the
apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from provision.discover import ApiClient, NodeClient, discover
from provision.plan.diff import Change, diff
from provision.spec import Cluster

# Change actions that mean "reality still differs from the stack".
PENDING = frozenset({"create", "update", "replace", "delete"})


@dataclass
class Verification:
    remaining: list[Change]
    requests: int
    seconds: float

    @property
    def converged(self) -> bool:
        return not self.remaining


def pending(changes: Iterable[Change], *, prune: bool = False) -> list[Change]:
    """The changes that still need work (unmanaged objects count only with --prune)."""
    return [c for c in changes if c.action in PENDING or (prune and c.action == "unmanaged")]


def verify(desired: Cluster, client: ApiClient, *, prune: bool = False,
           node_client: NodeClient | None = None) -> Verification:
    found = discover(client, hint_nodes=desired.node_names, node_client=node_client)
    changes = diff(desired, found.cluster, prune=prune, facts=found.observed)
    return Verification(pending(changes, prune=prune), found.requests, found.seconds)


def describe(changes: Sequence[Change]) -> list[str]:
    """One line per remaining difference, with field-level detail where there is some."""
    marks = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "unmanaged": "?"}
    lines: list[str] = []
    for change in changes:
        lines.append(f"  {marks.get(change.action, '?')} {change.address}")
        for fd in change.field_diffs:
            lines.append(f"      {fd.path}: {fd.old!r} -> {fd.new!r}")
    return lines
