"""The planner: diff desired vs observed, order into quorum-safe phases,
render (text, Markdown, JSON) and store plan files. Public API below."""

from provision.actions import KINDS, PHASES, Action
from provision.plan.diff import Change, FieldDiff, diff
from provision.plan.errors import PlanError
from provision.plan.order import build_actions, check_safety, order_actions, select_targets
from provision.plan.plan import FORMAT_VERSION, Plan, check_targets, make_plan, spec_digest
from provision.plan.planfile import PlanFileError
from provision.plan.prune import Prune
from provision.plan.workflow import Live, LivePlan, plan_stack, read_live

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
    "diff",
    "make_plan",
    "order_actions",
    "plan_stack",
    "read_live",
    "select_targets",
    "spec_digest",
]
