"""Fixtures for planner tests (implemented in plan_helpers)."""

from plan_helpers import lab_stack, lab_text, observe

__all__ = ["lab_stack", "lab_text", "observe"]
