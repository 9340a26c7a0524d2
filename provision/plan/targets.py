"""`--target` addresses checked before anything is read: a typo fails at once.

Its own module because `read_live` checks targets before the first request, long
before the planner (and its action catalogue) is imported."""

from __future__ import annotations

from collections.abc import Sequence

from provision.plan.errors import PlanError
from provision.spec.addresses import Address, kind_problem


def check_targets(targets: Sequence[Address]) -> None:
    """Refuse a target that cannot name any object: a typo would otherwise plan nothing."""
    problems = []
    for target in targets:
        problem = kind_problem(target)
        if problem is not None:
            problems.append(f"--target {target}: {problem}")
    if problems:
        raise PlanError(problems)


__all__ = ["check_targets"]
