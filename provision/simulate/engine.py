"""Run scenarios: apply each step's events, settle membership and HA, judge the result.

Each step is evaluated in full (quorum, fencing, HA, Ceph, capacity), so a scenario that
fails a node and brings it back shows both the recovery and the failback, and its verdict
is the worst of its steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from provision import crm
from provision.simulate.capacity import NodeLoad, node_loads
from provision.simulate.ceph import ASSUMPTIONS as CEPH_ASSUMPTIONS
from provision.simulate.ceph import CephResult, ceph_after
from provision.simulate.events import Event, NodeDown, Scenario, describe_event
from provision.simulate.ha import HaModel, ServiceOutcome, initial_services, settle
from provision.simulate.membership import Membership, World, membership
from provision.spec import Cluster

__all__ = [
    "ASSUMPTIONS",
    "InitialService",
    "Report",
    "ScenarioResult",
    "StepResult",
    "each_node_scenarios",
    "run",
    "simulate",
]

Status = Literal["ok", "degraded", "unavailable"]

ASSUMPTIONS = (
    "HA: a node outside the quorate partition is fenced and its services recovered "
    "(the CRM waits for its agent lock, about 2-3 minutes in real time)",
    "HA: guests without a `guests` entry start where the CRM would place them on the healthy cluster",
    "HA: a node shut down or rebooted with the failover behaviour stays down longer than the CRM's "
    "60 s fence delay (its services are recovered elsewhere)",
    "Capacity: configured memory and vCPUs of running guests versus node `capacity`",
    *CEPH_ASSUMPTIONS,
)


@dataclass(frozen=True)
class InitialService:
    sid: str
    state: str
    node: str
    origin: str


@dataclass(frozen=True)
class StepResult:
    """The cluster after one step of a scenario has settled."""

    events: tuple[str, ...]
    membership: Membership
    fencing: Mapping[str, str]
    services: tuple[ServiceOutcome, ...]
    guests_down: tuple[tuple[str, str], ...]  # non-HA guests whose node is not online: (sid, node)
    ceph: CephResult | None
    loads: tuple[NodeLoad, ...]
    unavailable: tuple[str, ...]
    degraded: tuple[str, ...]

    @property
    def status(self) -> Status:
        return "unavailable" if self.unavailable else "degraded" if self.degraded else "ok"


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    steps: tuple[StepResult, ...]

    @property
    def unavailable(self) -> tuple[str, ...]:
        return tuple(_unique(m for s in self.steps for m in s.unavailable))

    @property
    def degraded(self) -> tuple[str, ...]:
        return tuple(_unique(m for s in self.steps for m in s.degraded))

    @property
    def status(self) -> Status:
        return "unavailable" if self.unavailable else "degraded" if self.degraded else "ok"

    @property
    def worst_step(self) -> StepResult:
        """The step to summarise in a matrix: the first one with the worst status."""
        rank = {"ok": 0, "degraded": 1, "unavailable": 2}
        return max(self.steps, key=lambda s: rank[s.status])


@dataclass(frozen=True)
class Report:
    """Everything one ``provision simulate`` run found; rendered as text or JSON."""

    cluster: str
    source: str
    initial: tuple[InitialService, ...]
    warnings: tuple[str, ...]
    scenarios: tuple[ScenarioResult, ...]
    each_node: bool = False
    assumptions: tuple[str, ...] = field(default=ASSUMPTIONS)

    @property
    def unavailable(self) -> bool:
        return any(s.status == "unavailable" for s in self.scenarios)

    @property
    def degraded(self) -> bool:
        return any(s.status != "ok" for s in self.scenarios)


def _unique(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _judge(
    member: Membership,
    services: Sequence[ServiceOutcome],
    ceph: CephResult | None,
    loads: Sequence[NodeLoad],
) -> tuple[list[str], list[str]]:
    unavailable: list[str] = []
    degraded: list[str] = []
    if member.quorate is None:
        unavailable.append("no partition is quorate: /etc/pve is read-only everywhere and HA does nothing")
    for svc in services:
        if svc.action == "lost":
            unavailable.append(f"{svc.sid} is not running: {svc.reason}")
        elif svc.action == "frozen":
            degraded.append(f"{svc.sid} is down while its node is: {svc.reason}")
    if ceph is not None:
        if ceph.mons.configured and not ceph.mons.quorate:
            unavailable.append(f"Ceph MONs lost quorum: {ceph.mons.reason}")
        for pool in ceph.pools:
            replicas = f"worst PG keeps {pool.worst_replicas} of {pool.size} replicas, min_size {pool.min_size}"
            if pool.state == "blocked":
                why = "no MON quorum" if not ceph.mons.quorate and ceph.mons.configured else replicas
                unavailable.append(f"Ceph pool {pool.name} is blocked: {why}")
            elif pool.state == "degraded":
                degraded.append(f"Ceph pool {pool.name} is degraded: {replicas}")
        for fs in ceph.filesystems:
            if fs.state == "blocked":
                unavailable.append(f"CephFS {fs.name} is offline: {fs.reason}")
            elif fs.state == "degraded":
                degraded.append(f"CephFS {fs.name}: {fs.reason}")
        if ceph.capacity.warning:
            degraded.append(ceph.capacity.warning)
    for load in loads:
        degraded.extend(load.warnings)
    return unavailable, degraded


def _running_map(positions: Mapping[str, crm.Service], running: Mapping[str, bool]) -> dict[str, str]:
    return {sid: svc.node for sid, svc in positions.items() if running.get(sid, False)}


def run(cluster: Cluster, scenario: Scenario, *, ceph_used: float | None = None) -> ScenarioResult:
    """Simulate one scenario from the cluster's current placement."""
    positions, _ = initial_services(cluster)
    model = HaModel.from_cluster(cluster, list(positions.values()))
    world = World.healthy(cluster)
    healthy = frozenset(cluster.node_names)
    running = {sid: svc.state in ("started", "ignored") and svc.node in healthy for sid, svc in positions.items()}
    ha_sids = set(positions)
    other_guests = {g.sid: g.node for g in cluster.guests if g.sid not in ha_sids}
    initial_running = {**other_guests, **_running_map(positions, running)}

    steps: list[StepResult] = []
    pending: frozenset[str] = frozenset()
    for events in scenario.steps or ((),):
        world = world.apply_all(events)
        member = membership(cluster, world)
        outcome = settle(cluster, model, positions, running, member, world.powered, pending,
                         maintenance=world.in_maintenance(), frozen=world.frozen(), clean=world.clean())
        pending = outcome.pending
        running = {o.sid: o.running_after for o in outcome.services}
        positions = dict(outcome.positions)
        online = member.online
        guests_down = tuple(sorted((sid, node) for sid, node in other_guests.items() if node not in online))
        after = {
            **{sid: node for sid, node in other_guests.items() if node in online},
            **_running_map(positions, running),
        }
        loads = node_loads(cluster, online, initial_running, after)
        # Without any quorate partition nobody is fenced by the CRM; Ceph has its own
        # quorum, so count its daemons on every powered node then.
        ceph = ceph_after(cluster, online if member.quorate else world.powered, ceph_used)
        unavailable, degraded = _judge(member, outcome.services, ceph, loads)
        steps.append(
            StepResult(
                events=tuple(describe_event(e) for e in events),
                membership=member,
                fencing=outcome.fencing,
                services=outcome.services,
                guests_down=guests_down,
                ceph=ceph,
                loads=tuple(loads),
                unavailable=tuple(unavailable),
                degraded=tuple(degraded),
            )
        )
    return ScenarioResult(scenario, tuple(steps))


def each_node_scenarios(cluster: Cluster, base: Sequence[Event] = ()) -> list[Scenario]:
    """N-1: one scenario per node that fails it (on top of ``base`` failure events)."""
    already = {e.node for e in base if isinstance(e, NodeDown)}
    out = []
    for node in cluster.node_names:
        if node in already:
            continue
        events = (*base, NodeDown(node))
        out.append(Scenario("; ".join(describe_event(e) for e in events), (tuple(events),)))
    return out


def simulate(
    cluster: Cluster,
    scenarios: Sequence[Scenario],
    *,
    source: str,
    each_node: bool = False,
    ceph_used: float | None = None,
    notes: Sequence[str] = (),
) -> Report:
    """Run every scenario and collect a report; ``notes`` are shown as warnings."""
    positions, origin = initial_services(cluster)
    model = HaModel.from_cluster(cluster, list(positions.values()))
    initial = tuple(InitialService(sid, s.state, s.node, origin[sid]) for sid, s in positions.items())
    results = tuple(run(cluster, s, ceph_used=ceph_used) for s in scenarios)
    return Report(cluster.name, source, initial, (*notes, *model.dropped_rules), results, each_node)
