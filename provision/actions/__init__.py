"""The closed catalogue of action kinds: typed params, phase and rank, safety effect, template.

Shared by plan (builds actions), plan files (validate them), apply (renders them), the
docs table and the tests. See `catalogue.py` for what one kind's definition holds.
"""

from __future__ import annotations

from provision.actions.action import Action, ActionError
from provision.actions.catalogue import CATALOGUE, KINDS, Kind, KindSpec, kind_spec
from provision.actions.ids import ActionId, Verb
from provision.actions.phases import PHASES, PRE_CLUSTER_PHASES, Phase
from provision.actions.safety import Replay, UnsafeStep
from provision.actions.values import pve_text

__all__ = [
    "CATALOGUE",
    "KINDS",
    "PHASES",
    "PRE_CLUSTER_PHASES",
    "Action",
    "ActionError",
    "ActionId",
    "Kind",
    "KindSpec",
    "Phase",
    "Replay",
    "UnsafeStep",
    "Verb",
    "kind_spec",
    "pve_text",
]
