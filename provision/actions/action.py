"""The plan's unit of work, `Action`: one definition used by plan, plan files and apply.

An action is data (docs/plan-format.md): a typed `id`, the `phase` it runs in, its
`kind`, the `node` to run on (None: any quorate member), the `address` it changes,
typed `params` (secrets only as references), the ids it waits for and the changes it
carries out. Whether it runs alone (`serial`) and whether it destroys data
(`destructive`) come from the catalogue, never from the plan file: `from_json`
recomputes both and refuses a document that says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from provision.actions.catalogue import Kind, KindSpec, kind_spec
from provision.actions.ids import ActionId, parse_address
from provision.actions.params import Params
from provision.actions.phases import Phase
from provision.spec.addresses import Address


class ActionError(ValueError):
    """An action that is not what its kind allows (plan file or planner bug)."""


@dataclass
class Action:
    id: ActionId
    phase: Phase
    kind: Kind
    params: Params
    node: str | None = None
    depends_on: list[ActionId] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    """Addresses of the changes this action carries out."""
    reason: str = ""
    step: int = 0

    def __post_init__(self) -> None:
        spec = self.spec
        if self.phase not in spec.phases:
            raise ActionError(f"{self.id}: {self.kind.value} cannot run in phase {self.phase.value} (only "
                              f"{', '.join(sorted(p.value for p in spec.phases))})")
        if not isinstance(self.params, spec.params):
            raise ActionError(f"{self.id}: {self.kind.value} takes {spec.params.__name__} parameters, "
                              f"not {type(self.params).__name__}")

    @property
    def spec(self) -> KindSpec:
        return kind_spec(self.kind)

    @property
    def address(self) -> Address:
        return self.id.address

    @property
    def serial(self) -> bool:
        return self.spec.serial

    @property
    def destructive(self) -> bool:
        return self.spec.destructive(self.params)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "step": self.step,
            "phase": self.phase.value,
            "kind": self.kind.value,
            "node": self.node,
            "address": str(self.address),
            "params": self.params.model_dump(mode="json", exclude_none=True),
            "serial": self.serial,
            "destructive": self.destructive,
            "depends_on": sorted(str(d) for d in self.depends_on),
            "changes": sorted(self.changes),
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Action:
        """Validate one action of a plan document against its kind.

        Everything the catalogue can recompute is recomputed and compared: a plan file
        that marks a destructive action as harmless, runs a kind in a phase it does not
        belong to, or carries a parameter its kind does not define is refused."""
        where = f"action {data.get('id', '?')}"
        try:
            action_id = ActionId.parse(str(data["id"]))
            kind = Kind(str(data["kind"]))
            spec = kind_spec(kind)
            phase = Phase(str(data["phase"]))
        except KeyError as exc:
            raise ActionError(f"{where}: missing {exc.args[0]!r}") from None
        except ValueError as exc:
            raise ActionError(f"{where}: {exc}") from None
        if "address" not in data:
            raise ActionError(f"{where}: missing 'address'")
        if parse_address(str(data["address"])) != action_id.address:
            raise ActionError(f"{where}: address {data['address']} does not match the id")
        params = data.get("params", {})
        if not isinstance(params, Mapping):
            raise ActionError(f"{where}: params must be an object")
        try:
            typed = spec.params.model_validate(dict(params))
        except ValidationError as exc:
            raise ActionError(f"{where}: {kind.value} parameters: {_first_error(exc)}") from None
        node = data.get("node")
        if node is not None and not isinstance(node, str):
            raise ActionError(f"{where}: node must be a string or null")
        try:
            deps = [ActionId.parse(str(d)) for d in data.get("depends_on") or []]
        except ValueError as exc:
            raise ActionError(f"{where}: depends_on: {exc}") from None
        action = cls(id=action_id, phase=phase, kind=kind, params=typed, node=node, depends_on=deps,
                     changes=[str(c) for c in data.get("changes") or []], reason=str(data.get("reason", "")),
                     step=int(data.get("step") or 0))
        for flag in ("serial", "destructive"):
            if flag in data and bool(data[flag]) != getattr(action, flag):
                raise ActionError(f"{where}: says {flag}={str(bool(data[flag])).lower()}, but a {kind.value} with "
                                  f"these parameters is {flag}={str(getattr(action, flag)).lower()}")
        return action


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    parts = []
    for err in errors[:3]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or "params"
        msg = str(err.get("msg", ""))
        if err.get("type") == "extra_forbidden":
            msg = "unknown parameter (not defined for this kind)"
        elif err.get("type") == "missing":
            msg = "missing parameter"
        parts.append(f"{loc}: {msg}")
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more
