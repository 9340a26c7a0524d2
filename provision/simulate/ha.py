"""HA placement through the failure: fencing, recovery and failback, as the CRM would do it.

Every placement decision is ``provision.crm`` (the code the lab's CRM runs); this module
only translates the spec into its dataclasses, keeps track of where each service is from
one step of a scenario to the next, and labels the outcome for people:

- a quorate partition exists: services of every node outside it are recovered
  (``crm.recover``), then the CRM's own moves run until nothing moves any more
  (``crm.pending_moves``: failback to a returned node, strict rules, resource affinity);
- no partition is quorate: the CRM does nothing at all, and every node running HA
  services self-fences (its watchdog is no longer fed), so every started service is down.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from provision import crm
from provision.simulate.membership import Membership
from provision.spec import Cluster, HaResource
from provision.spec.hapolicy import placement_mode

__all__ = [
    "HaModel",
    "ServiceOutcome",
    "StepOutcome",
    "initial_services",
    "settle",
]

#: How a service ends a step, for people and for ``--fail-on``.
Action = Literal[
    "stays",  # running where it was
    "recovered",  # its node failed; started again elsewhere
    "moved",  # migrated by the CRM (failback, strict rule, affinity)
    "relocated-stopped",  # requested stopped; moved to a live node, kept stopped
    "stopped",  # requested stopped, nothing to do
    "disabled",  # requested disabled: HA keeps it off and never recovers it
    "ignored",  # HA does not manage it
    "frozen",  # its node was shut down with the freeze behaviour: down until the node is back
    "lost",  # requested started but not running after the step
]

_MAX_ROUNDS = 20


@dataclass(frozen=True)
class HaModel:
    """The spec's HA configuration in ``provision.crm`` terms."""

    config: crm.HAConfig
    crs: crm.CrsMode
    capacity: Mapping[str, tuple[int, int]]  # node -> (memory_mib, cores); 0 when unknown
    dropped_rules: tuple[str, ...]

    @classmethod
    def from_cluster(cls, cluster: Cluster, services: Sequence[crm.Service]) -> HaModel:
        config = crm.ha_config(cluster.ha.groups, cluster.ha.rules)
        capacity = {
            n.name: (n.capacity.memory_mib, n.capacity.cores) if n.capacity else (0, 0) for n in cluster.nodes
        }
        compiled = crm.compile_rules(config, services, cluster.node_names)
        dropped = tuple(f"HA rule {d.rule} is ignored by the CRM: {d.reason}" for d in compiled.dropped)
        return cls(config, placement_mode(cluster.ha.crs), capacity, dropped)

    def nodes(self, online: frozenset[str], maintenance: frozenset[str] = frozenset()) -> list[crm.NodeInfo]:
        return [
            crm.NodeInfo(name, name in online, maintenance=name in maintenance, memory_mib=mem, cores=cores)
            for name, (mem, cores) in sorted(self.capacity.items())
        ]


@dataclass(frozen=True)
class ServiceOutcome:
    """One HA resource through one step: where it was, where it is, and why."""

    sid: str
    state: str  # requested state
    before: str | None
    after: str | None
    running_before: bool
    running_after: bool
    action: Action
    reason: str


@dataclass(frozen=True)
class StepOutcome:
    """All services after one step, plus what happened to nodes (fencing)."""

    services: tuple[ServiceOutcome, ...]
    positions: Mapping[str, crm.Service]
    fencing: Mapping[str, str]  # node -> what happens to it
    pending: frozenset[str] = frozenset()  # services left in recovery (no allowed node online)


def _service(resource: HaResource, cluster: Cluster, node: str) -> crm.Service:
    guest = cluster.guest(resource.sid)
    return crm.Service(
        sid=resource.sid,
        node=node,
        state=resource.state,
        group=resource.group,
        failback=resource.failback,
        max_restart=resource.max_restart,
        max_relocate=resource.max_relocate,
        memory_mib=guest.memory_mib if guest else 0,
        cores=float(guest.cores) if guest else 0.0,
    )


def initial_services(cluster: Cluster) -> tuple[dict[str, crm.Service], dict[str, str]]:
    """Where every HA resource is before the failure, and how we know.

    A resource with a guest entry is on the guest's node. One without is placed the way
    the CRM places a new resource: best node of its group/rule on the healthy cluster,
    one after the other in sid order, each loading the node it got.
    """
    placed: dict[str, crm.Service] = {}
    origin: dict[str, str] = {}
    resources = sorted(cluster.ha.resources, key=lambda r: r.sid)
    for resource in resources:
        guest = cluster.guest(resource.sid)
        if guest is not None:
            placed[resource.sid] = _service(resource, cluster, guest.node)
            origin[resource.sid] = f"on {guest.node} (guests)"
    pending = [r for r in resources if r.sid not in placed]
    if pending:
        model = HaModel.from_cluster(cluster, [_service(r, cluster, "") for r in resources])
        nodes = model.nodes(frozenset(cluster.node_names))
        for resource in pending:
            svc = _service(resource, cluster, "")
            choice = crm.explain_service_node(
                svc, nodes, list(placed.values()), model.config, model.crs, best_score=True
            )
            node = choice.node or ""
            placed[resource.sid] = replace(svc, node=node)
            origin[resource.sid] = (
                f"no guest entry; the CRM would start it on {node}: {choice.reason}"
                if choice.node
                else f"no guest entry and no node allowed: {choice.reason}"
            )
    return dict(sorted(placed.items())), origin


def _running(svc: crm.Service, online: frozenset[str]) -> bool:
    return svc.state == "started" and svc.node in online


def settle(
    cluster: Cluster,
    model: HaModel,
    positions: Mapping[str, crm.Service],
    running_before: Mapping[str, bool],
    member: Membership,
    powered: frozenset[str],
    pending: frozenset[str] = frozenset(),
    *,
    maintenance: frozenset[str] = frozenset(),
    frozen: frozenset[str] = frozenset(),
    clean: frozenset[str] = frozenset(),
) -> StepOutcome:
    """Let the CRM react to ``member`` until nothing changes; label each service.

    ``maintenance``: nodes in the CRM's maintenance state (their services move away; one
    that is down as well emptied itself before it went, and is never fenced). ``frozen``:
    nodes shut down with the freeze behaviour (their services wait for them). ``clean``:
    nodes shut down with the failover behaviour (fenced without waiting for a lock).
    """
    online = member.online
    before = dict(positions)
    fencing = _fencing(cluster, before, member, powered, maintenance, frozen, clean)
    if member.quorate is None:
        outcomes = []
        for sid, svc in before.items():
            if svc.state in ("disabled", "ignored") and not running_before.get(sid, False):
                outcomes.append(_idle(svc, running_before.get(sid, False)))
                continue
            node_fate = fencing.get(svc.node, "")
            reason = f"no partition is quorate: the CRM does nothing; {svc.node} {node_fate}".rstrip()
            action: Action = "lost" if running_before.get(sid, False) or svc.state == "started" else "stopped"
            if svc.state == "disabled":
                action = "disabled"
            outcomes.append(
                ServiceOutcome(sid, svc.state, svc.node, svc.node, running_before.get(sid, False), False,
                               action, reason)
            )
        return StepOutcome(tuple(outcomes), before, fencing, frozenset(pending))

    nodes = model.nodes(online, maintenance)
    current = dict(before)
    reasons: dict[str, tuple[Action, str]] = {}
    unplaced: set[str] = set()
    # A node that went down in maintenance (the migrate policy) moved its services away
    # while it was still up: the LRM holds the shutdown until it is empty.
    leaving = frozenset(s.node for s in current.values() if s.state == "started" and s.node in maintenance
                        and s.node not in online)
    if leaving:
        still_up = model.nodes(online | leaving, maintenance)
        for move in crm.pending_moves(list(current.values()), still_up, model.config, model.crs):
            if move.source in leaving:
                current[move.sid] = replace(current[move.sid], node=move.target,
                                            maintenance_node=move.maintenance_node)
                reasons[move.sid] = ("moved", f"{move.source} shuts down with the migrate policy: migrates "
                                     f"{move.source} -> {move.target}: {move.reason}")
    # Services of a frozen node wait for it: the CRM neither fences nor recovers them.
    waiting = {sid for sid, svc in current.items() if svc.node in frozen and svc.node not in online
               and svc.state in ("started", "stopped")}
    for sid in waiting:
        reasons[sid] = ("frozen", f"{current[sid].node} was shut down with the freeze behaviour: the service "
                        "is frozen there until the node is back")
    # A service left in `recovery` by an earlier step is placed again, with the best
    # score, even if its old node is back: the CRM recovers it, it does not "stay".
    result = crm.recover([svc for sid, svc in current.items() if sid not in waiting], nodes, model.config,
                         model.crs, also_in_recovery=sorted(pending))
    for rec in result.recoveries:
        if rec.outcome == "recovered" and rec.new_node is not None:
            current[rec.sid] = replace(current[rec.sid], node=rec.new_node)
            kind: Action = "recovered" if rec.state == "started" else "relocated-stopped"
            reasons[rec.sid] = (kind, f"{_why_gone(rec.old_node, rec.sid in pending, member, powered)}; {rec.reason}")
        elif rec.outcome == "unplaceable":
            reasons[rec.sid] = ("lost", f"{_why_gone(rec.old_node, rec.sid in pending, member, powered)}; {rec.reason}")
            unplaced.add(rec.sid)
        else:
            reasons[rec.sid] = (
                "ignored" if rec.state == "ignored" else "disabled" if rec.state == "disabled" else "stopped",
                f"{_why_gone(rec.old_node, rec.sid in pending, member, powered)}; {rec.reason}",
            )
    for _ in range(_MAX_ROUNDS):
        moves = crm.pending_moves(list(current.values()), nodes, model.config, model.crs)
        if not moves:
            break
        for move in moves:
            current[move.sid] = replace(current[move.sid], node=move.target, maintenance_node=move.maintenance_node)
            previous = reasons.get(move.sid)
            text = f"migrates {move.source} -> {move.target}: {move.reason}"
            if previous is not None:
                reasons[move.sid] = (previous[0], f"{previous[1]}; then {text}")
            else:
                reasons[move.sid] = ("moved", text)

    outcomes = []
    for sid, svc in current.items():
        was = before[sid]
        ran = running_before.get(sid, False)
        if svc.state == "ignored":
            # HA leaves it alone: it runs as long as its node is up and in the quorate side.
            up = was.node in online
            outcomes.append(
                ServiceOutcome(sid, svc.state, was.node, svc.node, ran, ran and up, "ignored" if up or not ran
                               else "lost", reasons.get(sid, ("ignored", "ignored: not managed by HA"))[1])
            )
            continue
        now = _running(svc, online)
        if sid in reasons:
            action, reason = reasons[sid]
        elif svc.state == "started" and now and not ran:
            action, reason = "recovered", f"{svc.node} is in the quorate partition again; its LRM starts the service"
        elif svc.state == "started" and now:
            # Ask the CRM why it keeps the service here (e.g. "failback is off").
            choice = crm.explain_service_node(svc, nodes, list(current.values()), model.config, model.crs)
            action, reason = "stays", f"{svc.node} is still online; {choice.reason}"
        elif svc.state == "stopped":
            action, reason = "stopped", "requested stopped; its node is online, nothing to do"
        else:
            action, reason = "disabled", "disabled: HA keeps it stopped"
        if svc.state == "started" and not now and action != "frozen":
            action = "lost"
        outcomes.append(ServiceOutcome(sid, svc.state, was.node, svc.node, ran, now, action, reason))
    return StepOutcome(tuple(outcomes), current, fencing, frozenset(unplaced))


def _idle(svc: crm.Service, ran: bool) -> ServiceOutcome:
    action: Action = "ignored" if svc.state == "ignored" else "disabled"
    text = "ignored: not managed by HA" if svc.state == "ignored" else "disabled: HA keeps it stopped"
    return ServiceOutcome(svc.sid, svc.state, svc.node, svc.node, ran, False, action, text)


def _why_gone(node: str, was_pending: bool, member: Membership, powered: frozenset[str]) -> str:
    if was_pending:
        return "still in recovery from the previous step (no allowed node was online)"
    if node not in powered:
        return f"{node} is down and fenced"
    return f"{node} is cut off from the quorate partition and fenced"


def _fencing(
    cluster: Cluster,
    services: Mapping[str, crm.Service],
    member: Membership,
    powered: frozenset[str],
    maintenance: frozenset[str] = frozenset(),
    frozen: frozenset[str] = frozenset(),
    clean: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """What happens to every node outside the quorate partition.

    A node that loses quorum while its LRM runs HA services stops feeding its watchdog
    and resets after 60 s; one without active services stays up but read-only. Either
    way the CRM master (if any partition is quorate) waits for the node's agent lock and
    then recovers its services.
    """
    online = member.online
    out: dict[str, str] = {}
    for node in cluster.node_names:
        if node in online:
            continue
        # pve-ha-lrm's active_service_count: services assigned here, not requested stopped.
        active = sorted(sid for sid, svc in services.items() if svc.node == node and svc.state == "started")
        if node not in powered and node in maintenance:
            out[node] = "is shut down in maintenance (migrate policy): no fencing"
        elif node not in powered and node in frozen:
            out[node] = "is shut down with its services frozen (freeze): no fencing"
        elif node not in powered and node in clean:
            out[node] = ("is shut down cleanly (failover): fenced after 60 s offline, its lock is free"
                         if member.quorate else "is shut down cleanly (failover)")
        elif node not in powered:
            out[node] = "is down (power); fenced" if member.quorate else "is down (power)"
        elif active:
            out[node] = f"loses quorum with active HA services ({', '.join(active)}): watchdog resets it (self-fence)"
        else:
            out[node] = "loses quorum with no active HA services: stays up, /etc/pve read-only, not reset"
    return out
