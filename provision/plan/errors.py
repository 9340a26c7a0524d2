"""Planning errors: the plan cannot be made (and no actions are produced)."""

from __future__ import annotations

from collections.abc import Sequence


class PlanError(Exception):
    """A plan that must not be made: non-quorate cluster, unsafe step, cycle,
    impossible change. `problems` lists every cause, one line each."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))
