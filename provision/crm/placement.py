"""Where the Proxmox HA manager (CRM) puts services: node choice, recovery, failback.

This follows ``pve-ha-manager`` ``src/PVE/HA/Manager.pm`` (5.2.0; PVE 8 logic checked
against 4.0.7, which differs only in reading groups directly):

``select_service_node``
    Take the online nodes the resource's group/rule allows; keep only the highest
    priority class. With ``failback`` off and no need to move, stay on the current node
    if it is still allowed at all. With ``try-next`` (after a failed start) drop the
    nodes already tried. Drop nodes running a resource it must be kept apart from; if
    resources it must be kept with run on candidate nodes, keep only the node holding
    most of them. Return to the node left for maintenance if it is a candidate; stay on
    the current node if it is a candidate; else take the lowest score (``basic``: HA
    services on the node; ``static``: TOPSIS over CPU/memory), ties by node name.

``recover``
    After a node is fenced its ``started`` and ``stopped`` services enter ``recovery``;
    the CRM places them one by one in ``sid`` order, each placement loading the chosen
    node before the next is placed. ``disabled`` and ``ignored`` services are not
    recovered, nor are ``stopped`` ones on a node in maintenance. A service with no
    allowed online node stays in ``recovery`` and is retried every round (callers that
    keep state across rounds name those services with ``in_recovery``).

``failback_moves`` / ``pending_moves``
    Every round each running service is re-checked with preference "none"; that is how
    services go back to a higher-priority node that returned, leave a node entering
    maintenance and come back after it, or leave a node a strict rule forbids. Stopped
    services are never moved this way.

Every decision carries a short human reason, because ``simulate`` prints them.

Not modelled, on purpose: the ``dynamic`` CRS mode and automatic rebalancing (they need
live usage data), ``ha-rebalance-on-start``, running non-HA guests in the usage table
(ha-manager >= 5.1.2 counts them), timing (fence delay, agent-lock expiry), restart
counting (callers pass ``try_next``/``tried_nodes``), shutdown policies other than the
maintenance they lead to, and the ``disarm-ha`` modes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from provision.crm.model import (
    CrsMode,
    Group,
    HAConfig,
    NodeAffinityRule,
    NodeInfo,
    ResourceAffinityRule,
    Service,
)
from provision.crm.rules import CompiledRules, NodeAffinity, compile_rules
from provision.crm.usage import NodeUsage

__all__ = [
    "CrsMode",
    "Group",
    "HAConfig",
    "Move",
    "NodeAffinityRule",
    "NodeInfo",
    "NodePreference",
    "Placement",
    "Recovery",
    "RecoveryResult",
    "ResourceAffinityRule",
    "Service",
    "allowed_nodes",
    "explain_service_node",
    "failback_moves",
    "pending_moves",
    "recover",
    "select_service_node",
]

#: ``none``: stay put when possible; ``best-score``: recovery; ``try-next``: after a failed start.
NodePreference = Literal["none", "best-score", "try-next"]
_CrmState = Literal["started", "stopped", "request_stop", "migrate", "recovery"]


@dataclass(frozen=True)
class Placement:
    """One node decision: the node (None = nowhere) and why."""

    sid: str
    node: str | None
    reason: str


@dataclass(frozen=True)
class Recovery:
    """What recovery did with one service of a failed node.

    ``outcome`` is ``recovered`` (``new_node`` set), ``unplaceable`` (stays in recovery,
    retried every round) or ``not-recovered`` (HA leaves it alone: disabled, ignored, or
    stopped on a node in maintenance). ``state`` is the requested state it keeps.
    """

    sid: str
    old_node: str
    new_node: str | None
    outcome: Literal["recovered", "unplaceable", "not-recovered"]
    state: str
    reason: str


@dataclass(frozen=True)
class RecoveryResult:
    """Recoveries in the order the CRM processes them (by ``sid``)."""

    recoveries: tuple[Recovery, ...]

    @property
    def placements(self) -> dict[str, str]:
        """sid -> new node, for the services that were recovered."""
        return {r.sid: r.new_node for r in self.recoveries if r.new_node is not None}

    @property
    def unplaceable(self) -> tuple[str, ...]:
        """Services left in recovery because no allowed node is online."""
        return tuple(r.sid for r in self.recoveries if r.outcome == "unplaceable")

    def __getitem__(self, sid: str) -> Recovery:
        for r in self.recoveries:
            if r.sid == sid:
                return r
        raise KeyError(sid)


@dataclass(frozen=True)
class Move:
    """A migration (VM) or relocation (CT) the CRM starts on its own.

    ``maintenance_node`` is what the service remembers after the move (its new
    :attr:`Service.maintenance_node`): the node it left for maintenance and will return
    to, or None. Callers that keep state across rounds should store it.
    """

    sid: str
    source: str
    target: str
    reason: str
    maintenance_node: str | None = None


# --- public functions -------------------------------------------------------------------


def allowed_nodes(
    service: Service,
    nodes: Sequence[NodeInfo],
    config: HAConfig | None = None,
    services: Sequence[Service] = (),
) -> dict[str, int]:
    """Node -> priority where ``service`` may run, online or not.

    Non-members of an unrestricted group / non-strict rule get -1; without a group or
    rule every node gets 0. ``services`` matters only when rules conflict (PVE drops
    rules that share a resource, for example).
    """
    crm = _Crm(_with(services, service), nodes, config, "basic")
    na = crm.rules.node_affinity.get(service.sid)
    names = sorted(crm.node_info)
    if na is None:
        return dict.fromkeys(names, 0)
    return {n: na.nodes[n] for n in names if n in na.nodes}


def explain_service_node(
    service: Service,
    nodes: Sequence[NodeInfo],
    services: Sequence[Service] = (),
    config: HAConfig | None = None,
    crs: CrsMode = "basic",
    try_next: bool = False,
    tried_nodes: Iterable[str] = (),
    *,
    best_score: bool = False,
) -> Placement:
    """Like :func:`select_service_node`, with the reason for the choice.

    ``services`` are all HA resources (they load nodes and carry resource affinity);
    ``service`` replaces the entry with its sid. ``best_score`` is the preference the CRM
    uses for recovery: ignore the current node and take the best-scored candidate.
    """
    preference: NodePreference = "try-next" if try_next else "best-score" if best_score else "none"
    crm = _Crm(_with(services, service), nodes, config, crs)
    return crm.select(service, preference, tuple(tried_nodes))


def select_service_node(
    service: Service,
    nodes: Sequence[NodeInfo],
    services: Sequence[Service] = (),
    config: HAConfig | None = None,
    crs: CrsMode = "basic",
    try_next: bool = False,
    tried_nodes: Iterable[str] = (),
    *,
    best_score: bool = False,
) -> str | None:
    """The node the CRM would run ``service`` on now, or None when no node qualifies."""
    return explain_service_node(
        service, nodes, services, config, crs, try_next, tried_nodes, best_score=best_score
    ).node


def recover(
    services: Sequence[Service],
    nodes: Sequence[NodeInfo],
    config: HAConfig | None = None,
    crs: CrsMode = "basic",
    *,
    in_recovery: Iterable[str] | None = None,
    also_in_recovery: Iterable[str] = (),
) -> RecoveryResult:
    """Place the services that are in recovery, as one CRM round does.

    By default that is every service of every offline node, right after fencing (a node
    missing from ``nodes`` counts as offline). Callers that keep CRM state across rounds
    pass ``in_recovery`` instead: exactly those sids are placed, wherever they are; one
    whose node came back online may be recovered onto it again, and one that was
    disabled meanwhile leaves recovery as stopped when no node is found. Services on
    online nodes are assumed settled (see :func:`pending_moves`). ``also_in_recovery``
    adds sids still in recovery from an earlier round to the default selection (a
    what-if that steps through events keeps them there).
    """
    crm = _Crm(services, nodes, config, crs)
    results: dict[str, Recovery] = {}
    fenced: list[Service] = []
    wanted = None if in_recovery is None else set(in_recovery)
    if wanted is not None and (unknown := wanted - {s.sid for s in services}):
        raise ValueError(f"in_recovery names unknown service(s): {', '.join(sorted(unknown))}")
    extra = set(also_in_recovery)
    if unknown := extra - {s.sid for s in services}:
        raise ValueError(f"also_in_recovery names unknown service(s): {', '.join(sorted(unknown))}")
    for svc in sorted(services, key=lambda s: s.sid):
        info = crm.node_info.get(svc.node)
        held = svc.sid in extra or (wanted is not None and svc.sid in wanted)
        if not held:
            if wanted is not None or (info is not None and info.online):
                continue
            if svc.state == "disabled":
                results[svc.sid] = _skip(svc, f"disabled: HA does not recover it; it stays on {svc.node}")
                continue
            if svc.state == "stopped" and info is not None and info.maintenance:
                results[svc.sid] = _skip(svc, f"stopped on {svc.node}, which is in maintenance: not fenced")
                continue
        if svc.state == "ignored":
            results[svc.sid] = _skip(svc, "ignored: not managed by HA, so not recovered")
        else:
            fenced.append(svc)
    # All of them are in 'recovery' at once; one loads its node only if that is online.
    for svc in fenced:
        crm.set_state(svc.sid, "recovery", svc.node)
    for svc in fenced:
        placement = crm.select(svc, "best-score", ())
        if placement.node is None:
            if svc.state == "disabled":
                reason = f"disabled while in recovery and {placement.reason}: leaves recovery as stopped"
                results[svc.sid] = _skip(svc, reason)
            else:
                reason = f"{placement.reason}; stays in recovery and is retried every round"
                results[svc.sid] = Recovery(svc.sid, svc.node, None, "unplaceable", svc.state, reason)
            continue
        crm.set_state(svc.sid, "started" if svc.state == "started" else "request_stop", placement.node)
        reason = placement.reason
        if placement.node == svc.node:
            reason = f"back on {svc.node}, its own node, online again: {reason}"
        results[svc.sid] = Recovery(svc.sid, svc.node, placement.node, "recovered", svc.state, reason)
    return RecoveryResult(tuple(results[sid] for sid in sorted(results)))


def pending_moves(
    services: Sequence[Service],
    nodes: Sequence[NodeInfo],
    config: HAConfig | None = None,
    crs: CrsMode = "basic",
) -> list[Move]:
    """Moves the CRM starts by itself for running services, in the order it starts them.

    Covers failback to a returned higher-priority node, leaving and returning to a node
    in maintenance, leaving a node a strict rule forbids, and resource affinity. A moving
    service loads both its source and its target until the move ends, which later
    decisions in the same round see. Services on offline nodes are for :func:`recover`.
    """
    crm = _Crm(services, nodes, config, crs)
    moves: list[Move] = []
    changed = True
    while changed:  # the CRM repeats its pass while any service changed state
        changed = False
        for sid in sorted(crm.slots):
            slot = crm.slots[sid]
            info = crm.node_info.get(slot.node)
            if slot.state != "started" or info is None or not info.online:
                continue  # moving already, stopped, or for recover()
            svc = slot.service
            if info.maintenance:
                svc = replace(svc, maintenance_node=slot.node)
            placement = crm.select(svc, "none", ())
            if placement.node is None or placement.node == slot.node:
                slot.service = svc
                continue
            fallback = svc.maintenance_node
            if fallback is not None and (placement.node == fallback or slot.node != fallback):
                svc = replace(svc, maintenance_node=None)
            slot.service = svc
            reason = placement.reason
            if info.maintenance:
                reason = f"{slot.node} is in maintenance; {reason}"
            moves.append(Move(sid, slot.node, placement.node, reason, svc.maintenance_node))
            crm.set_state(sid, "migrate", slot.node, placement.node)
            changed = True
    return moves


def failback_moves(
    services: Sequence[Service],
    nodes: Sequence[NodeInfo],
    config: HAConfig | None = None,
    crs: CrsMode = "basic",
) -> list[tuple[str, str, str]]:
    """``(sid, from, to)`` for each move of :func:`pending_moves` (reasons dropped)."""
    return [(m.sid, m.source, m.target) for m in pending_moves(services, nodes, config, crs)]


# --- the CRM's view of one round ----------------------------------------------------------


@dataclass
class _Slot:
    service: Service
    state: _CrmState
    node: str
    target: str | None = None


def _with(services: Sequence[Service], service: Service) -> list[Service]:
    return [s for s in services if s.sid != service.sid] + [service]


def _skip(svc: Service, reason: str) -> Recovery:
    return Recovery(svc.sid, svc.node, None, "not-recovered", svc.state, reason)


class _Crm:
    """Service states, node usage and compiled rules, updated as decisions are made."""

    def __init__(
        self, services: Sequence[Service], nodes: Sequence[NodeInfo], config: HAConfig | None, crs: CrsMode
    ) -> None:
        self.node_info: dict[str, NodeInfo] = {}
        for node in nodes:
            if node.name in self.node_info:
                raise ValueError(f"duplicate node {node.name!r}")
            self.node_info[node.name] = node
        seen: set[str] = set()
        for svc in services:
            if svc.sid in seen:
                raise ValueError(f"duplicate service {svc.sid!r}")
            seen.add(svc.sid)
        self.rules: CompiledRules = compile_rules(config or HAConfig(), services, list(self.node_info))
        self.usage = NodeUsage(nodes, crs)
        self.slots: dict[str, _Slot] = {}
        for svc in sorted(services, key=lambda s: s.sid):
            if svc.state == "ignored":
                continue  # removed from the manager status: no usage, no affinity
            self.slots[svc.sid] = _Slot(svc, "started" if svc.state == "started" else "stopped", svc.node)
            self._account(svc.sid)

    def set_state(self, sid: str, state: _CrmState, node: str, target: str | None = None) -> None:
        slot = self.slots[sid]
        slot.state, slot.node, slot.target = state, node, target
        self._account(sid)

    def _used_nodes(self, sid: str) -> tuple[str | None, str | None]:
        """Nodes ``sid`` puts load on: its online current node, and its migration target."""
        slot = self.slots.get(sid)
        if slot is None or slot.state == "stopped":
            return None, None
        online = self.usage.online
        current = slot.node if slot.node in online else None
        target = slot.target if slot.state == "migrate" and slot.target in online else None
        return current, target

    def _account(self, sid: str) -> None:
        self.usage.remove(sid)
        self.usage.add(self.slots[sid].service, *self._used_nodes(sid))

    def _failback(self, service: Service) -> bool:
        return self.rules.failback.get(service.sid, service.failback)

    def _resource_affinity(self, sid: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Per node, the resources to keep with ``sid`` that run there, and those to avoid."""
        together: dict[str, list[str]] = {}
        separate: dict[str, list[str]] = {}
        for other in sorted(self.rules.positive.get(sid, ())):
            current, target = self._used_nodes(other)
            node = target or current  # a moving partner counts at its target only
            if node is not None:
                together.setdefault(node, []).append(other)
        for other in sorted(self.rules.negative.get(sid, ())):
            for node in self._used_nodes(other):
                if node is not None:
                    separate.setdefault(node, []).append(other)
        return together, separate

    def select(self, service: Service, preference: NodePreference, tried: Sequence[str]) -> Placement:
        sid, current = service.sid, service.node
        na = self.rules.node_affinity.get(sid)
        online = self.usage.online
        allowed = dict.fromkeys(online, 0) if na is None else {n: p for n, p in na.nodes.items() if n in online}
        if not allowed:
            return Placement(sid, None, _nothing_online(na))
        top = max(allowed.values())
        candidates = {n for n, p in allowed.items() if p == top}
        together, separate = self._resource_affinity(sid)

        if (
            preference == "none"
            and not self._failback(service)
            and current in allowed
            and (together.get(current) or current not in separate)
        ):
            allows = "" if na is None else f" and {na.label} allows it"
            return Placement(sid, current, f"stays on {current}: failback is off{allows}")

        notes: list[str] = []
        if preference == "try-next":
            skipped = candidates & set(tried)
            candidates -= skipped
            if skipped:
                notes.append(f"already tried {', '.join(sorted(skipped))}")
        avoided = sorted(candidates & set(separate))
        if avoided:
            candidates -= set(avoided)
            apart = sorted({o for n in avoided for o in separate[n]})
            notes.append(f"kept apart from {', '.join(apart)} on {', '.join(avoided)} (negative resource affinity)")
        with_partners = {n: others for n, others in together.items() if n in candidates}
        if with_partners:
            majority = min(with_partners, key=lambda n: (-len(with_partners[n]), n))
            candidates = {majority}
            partners = ", ".join(with_partners[majority])
            notes.append(f"kept together with {partners} on {majority} (positive resource affinity)")

        fallback = service.maintenance_node
        if fallback is not None and fallback in candidates:
            return Placement(sid, fallback, _join(f"back to {fallback}, which left maintenance", notes))
        klass = _class_text(na, top, len(set(allowed.values())) > 1)
        if preference == "none" and current in candidates:
            return Placement(sid, current, _join(f"stays on {current}: {klass}", notes))

        scores = self.usage.scores(service)
        ordered = sorted(candidates, key=lambda n: (scores[n], n))
        if not ordered:
            return Placement(sid, None, _join(f"{klass}, but every candidate was excluded", notes))
        if preference == "try-next" and current in ordered and ordered.index(current) < len(ordered) - 1:
            chosen = ordered[ordered.index(current) + 1]
            score = f"next after {current} in score order ({self.usage.describe(chosen)})"
            return Placement(sid, chosen, _join(klass, [*notes, score]))
        chosen = ordered[0]
        return Placement(sid, chosen, _join(klass, [*notes, self._score_text(chosen, ordered, scores)]))

    def _score_text(self, chosen: str, ordered: list[str], scores: dict[str, float]) -> str:
        if len(ordered) == 1:
            text = f"only candidate ({self.usage.describe(chosen)})"
        else:
            kind = "least services (basic CRS)" if self.usage.mode == "basic" else "lowest load (static CRS)"
            text = f"{kind}: {self.usage.describe(chosen)}"
            if sum(1 for n in ordered if scores[n] == scores[chosen]) > 1:
                text += ", node name breaks the tie"
        if self.usage.fallback_note:
            text += f" [{self.usage.fallback_note}]"
        return text


def _nothing_online(na: NodeAffinity | None) -> str:
    if na is not None and na.strict:
        return f"no online node allowed by {na.label}"
    return "no online node in the cluster"


def _class_text(na: NodeAffinity | None, top: int, several_classes: bool) -> str:
    if na is None:
        return "any online node (no group or rule)"
    if top == -1 and not na.strict:
        return f"no member of {na.label} online, falling back to other nodes"
    text = f"highest priority online node in {na.label}"
    return f"{text} (priority {top})" if several_classes else text


def _join(text: str, notes: list[str]) -> str:
    return "; ".join([text, *notes])
