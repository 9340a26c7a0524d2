"""After apply: read the cluster again and require that nothing is left to do.

A playbook that reports success only proves that commands exited 0. Convergence is
the real contract (a converged cluster plans to zero changes), so apply re-discovers and
diffs with the same code the planner uses; whatever remains is printed and fails the
apply.

A targeted plan (`plan --target X`) promised only X and what X needs, so only that is
verified: differences elsewhere were left alone on purpose and are counted, not held
against the apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provision.discover import ApiClient, NodeClient, discover
from provision.plan.diff import Change, diff
from provision.plan.prune import Prune
from provision.spec import Address, Cluster

# Change actions that mean "reality still differs from the stack".
PENDING = frozenset({"create", "update", "replace", "delete"})


@dataclass
class Verification:
    remaining: list[Change]
    requests: int
    seconds: float
    scope: list[str] = field(default_factory=list)  # the addresses verified; empty: everything
    outside: int = 0  # pending differences outside `scope`, left alone by a targeted plan

    @property
    def converged(self) -> bool:
        return not self.remaining


def pending(changes: Iterable[Change]) -> list[Change]:
    """The changes that still need work. Unmanaged objects are none: where the prune
    scope covers one, the diff made it a delete; the rest apply was never asked to touch."""
    return [c for c in changes if c.action in PENDING]


def plan_scope(document: Mapping[str, Any]) -> list[Address]:
    """What a plan document promised to converge: nothing narrower than everything
    unless it was made with `--target`; then the targets and every object its actions
    change (the dependencies a target pulled in)."""
    targets = list((document.get("options") or {}).get("targets") or [])
    if not targets:
        return []
    texts = {*targets, *(c for a in document.get("actions", []) for c in a.get("changes") or [])}
    out = []
    for text in sorted(texts):
        try:
            out.append(Address.parse(str(text)))
        except ValueError:
            continue
    return out


def verify(desired: Cluster, client: ApiClient, *, prune: bool | Prune = False,
           scope: Sequence[Address] = (), node_client: NodeClient | None = None) -> Verification:
    """Discover again and diff; with a `scope` only differences inside it remain."""
    found = discover(client, hint_nodes=desired.node_names, node_client=node_client,
                     read_report=desired.quorum.qdevice is not None)
    changes = pending(diff(desired, found.cluster, prune=prune, facts=found.observed))
    inside = [c for c in changes if not scope or any(s.contains(c.address) for s in scope)]
    return Verification(inside, found.requests, found.seconds, scope=[str(s) for s in scope],
                        outside=len(changes) - len(inside))


def describe(changes: Sequence[Change]) -> list[str]:
    """One line per remaining difference, with field-level detail where there is some."""
    marks = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "unmanaged": "?"}
    lines: list[str] = []
    for change in changes:
        lines.append(f"  {marks.get(change.action, '?')} {change.address}")
        for fd in change.field_diffs:
            lines.append(f"      {fd.path}: {fd.old!r} -> {fd.new!r}")
    return lines
