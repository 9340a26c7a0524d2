"""Inputs of the HA placement functions: nodes, HA resources, PVE 8 groups, PVE 9 rules.

Small frozen dataclasses rather than the spec's pydantic models, so that the lab and
``simulate`` can both feed them without this package importing either of them. Field
names follow Proxmox (``resources.cfg``, ``groups.cfg``, ``rules.cfg``) where it has one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Affinity",
    "CrsMode",
    "Group",
    "HAConfig",
    "NodeAffinityRule",
    "NodeInfo",
    "ResourceAffinityRule",
    "Rule",
    "Service",
    "ServiceState",
]

#: ``datacenter.cfg`` ``crs: ha=...``. PVE 9's ``dynamic`` needs live RRD data; not modelled.
CrsMode = Literal["basic", "static"]
#: The requested state in ``resources.cfg`` (``enabled`` is an alias of ``started``).
ServiceState = Literal["started", "stopped", "disabled", "ignored"]
Affinity = Literal["positive", "negative"]

_STATES = ("started", "stopped", "disabled", "ignored")


@dataclass(frozen=True)
class NodeInfo:
    """A cluster node as the CRM master sees it.

    ``online`` means "member of the quorate partition"; an offline node that is not in
    maintenance gets fenced and its services recovered. ``maintenance`` is the LRM's
    maintenance mode (``ha-manager crm-command node-maintenance`` or a shutdown with the
    ``migrate`` policy): the node takes no new services, and its services are not fenced.
    ``memory_mib`` / ``cores`` are only used by the ``static`` CRS mode.
    """

    name: str
    online: bool
    maintenance: bool = False
    memory_mib: int = 0
    cores: int = 0

    @property
    def schedulable(self) -> bool:
        """Whether the CRM may place services here (node state ``online``)."""
        return self.online and not self.maintenance


@dataclass(frozen=True)
class Service:
    """An HA resource (``vm:100``, ``ct:101``) with its current node.

    ``state`` is the *requested* state from ``resources.cfg``. ``failback`` is the PVE 9
    resource option; for a resource bound to a PVE 8 ``group`` the group's ``nofailback``
    decides instead (that is how PVE 9 migrates it). ``maintenance_node`` is CRM runtime
    state: the node a service was moved away from because it entered maintenance, and
    will return to when maintenance ends. ``memory_mib`` / ``cores`` are the guest's
    configured size for the ``static`` CRS mode (``cores`` may be fractional, like a
    ``cpulimit``; 0 means "unlimited", which counts as the whole node).
    ``max_restart`` / ``max_relocate`` are carried for callers that model failed starts:
    they count attempts and pass ``try_next`` / ``tried_nodes`` to the node selection.
    """

    sid: str
    node: str
    state: ServiceState = "started"
    group: str | None = None
    failback: bool = True
    max_restart: int = 1
    max_relocate: int = 1
    memory_mib: int = 0
    cores: float = 0
    maintenance_node: str | None = None

    def __post_init__(self) -> None:
        if self.state not in _STATES:
            raise ValueError(f"{self.sid}: unknown HA state {self.state!r}, expected one of {', '.join(_STATES)}")


@dataclass(frozen=True)
class Group:
    """A PVE 8 HA group (``groups.cfg``): node priorities, ``restricted``, ``nofailback``."""

    name: str
    nodes: Mapping[str, int]
    restricted: bool = False
    nofailback: bool = False


@dataclass(frozen=True)
class NodeAffinityRule:
    """A PVE 9 ``node-affinity`` rule. Non-strict rules let the resources fall back to any
    other node (priority -1); strict rules confine them to ``nodes`` (or, for a negative
    rule, to the nodes it does not list)."""

    name: str
    resources: frozenset[str]
    nodes: Mapping[str, int]
    strict: bool = False
    disabled: bool = False
    #: ``negative`` (pve-ha-manager >= 5.2.5): keep the resources *off* ``nodes``; the CRM
    #: uses the other cluster nodes instead, each at priority 0.
    affinity: Affinity = "positive"

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", frozenset(self.resources))
        if self.affinity not in ("positive", "negative"):
            raise ValueError(f"rule {self.name}: affinity must be positive or negative, got {self.affinity!r}")


@dataclass(frozen=True)
class ResourceAffinityRule:
    """A PVE 9 ``resource-affinity`` rule: keep ``resources`` together or apart (strict)."""

    name: str
    resources: frozenset[str]
    affinity: Affinity
    disabled: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "resources", frozenset(self.resources))
        if self.affinity not in ("positive", "negative"):
            raise ValueError(f"rule {self.name}: affinity must be positive or negative, got {self.affinity!r}")


Rule = NodeAffinityRule | ResourceAffinityRule


@dataclass(frozen=True)
class HAConfig:
    """Everything that constrains placement: PVE 8 groups and PVE 9 rules (in file order).

    Both may be given at once; PVE 9 turns referenced groups into ``ha-group-<name>``
    node-affinity rules before it checks the rule set, and so does this package.
    """

    groups: Sequence[Group] = ()
    rules: Sequence[Rule] = ()
    _by_name: Mapping[str, Group] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for kind, names in (("group", [g.name for g in self.groups]), ("rule", [r.name for r in self.rules])):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"duplicate {kind} name(s): {', '.join(duplicates)}")
        object.__setattr__(self, "_by_name", {g.name: g for g in self.groups})

    def group(self, name: str | None) -> Group | None:
        """The group called ``name``, or None (also for a dangling reference)."""
        return None if name is None else self._by_name.get(name)
