"""The planner: diff desired vs observed, order into quorum-safe phases,
render (text, Markdown, JSON) and store plan files. Public API below.

The names are imported when first used (PEP 562), not with the package: a no-op
`provision plan` starts discovery before it needs the action catalogue and the CRM
model, and imports them while the answers travel (`workflow._import_planner`).
`diff` is not among them: it is the name of the submodule `provision.plan.diff`, which
an import of that submodule would put in its place (import it from there)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provision.lazy import lazy_attributes

if TYPE_CHECKING:
    from provision.actions import KINDS, PHASES, Action
    from provision.plan.diff import Change, FieldDiff
    from provision.plan.errors import PlanError
    from provision.plan.order import build_actions, check_safety, order_actions, select_targets
    from provision.plan.plan import FORMAT_VERSION, Plan, make_plan, spec_digest
    from provision.plan.planfile import PlanFileError
    from provision.plan.prune import Prune
    from provision.plan.targets import check_targets
    from provision.plan.workflow import Live, LivePlan, plan_stack, read_live

_HOME = {
    "KINDS": "provision.actions",
    "PHASES": "provision.actions",
    "Action": "provision.actions",
    "Change": "provision.plan.diff",
    "FieldDiff": "provision.plan.diff",
    "PlanError": "provision.plan.errors",
    "build_actions": "provision.plan.order",
    "check_safety": "provision.plan.order",
    "order_actions": "provision.plan.order",
    "select_targets": "provision.plan.order",
    "FORMAT_VERSION": "provision.plan.plan",
    "Plan": "provision.plan.plan",
    "make_plan": "provision.plan.plan",
    "spec_digest": "provision.plan.plan",
    "PlanFileError": "provision.plan.planfile",
    "Prune": "provision.plan.prune",
    "check_targets": "provision.plan.targets",
    "Live": "provision.plan.workflow",
    "LivePlan": "provision.plan.workflow",
    "plan_stack": "provision.plan.workflow",
    "read_live": "provision.plan.workflow",
}


__getattr__ = lazy_attributes(__name__, _HOME)


__all__ = [
    "FORMAT_VERSION",
    "KINDS",
    "PHASES",
    "Action",
    "Change",
    "FieldDiff",
    "Live",
    "LivePlan",
    "Plan",
    "PlanError",
    "PlanFileError",
    "Prune",
    "build_actions",
    "check_safety",
    "check_targets",
    "make_plan",
    "order_actions",
    "plan_stack",
    "read_live",
    "select_targets",
    "spec_digest",
]
