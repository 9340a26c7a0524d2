"""What each action kind does to quorum, the Ceph monitor majority and OSD redundancy.

The planner replays a plan step by step against a `Replay` (votes, members, QDevice,
monitors, OSDs per host) and refuses the plan at the first step that would lose
corosync quorum, drop the monitors below a majority, or leave fewer hosts with OSDs
than a pool keeps copies. Each kind's effect lives here, beside the others, and the
catalogue names it; the replay itself is a fold over kinds, not a chain of ifs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from provision.actions import params as P
from provision.crm.quorum import Member, QDevice, partition_quorum

if TYPE_CHECKING:
    from provision.actions.action import Action


class UnsafeStep(Exception):
    """A step of the plan would lose quorum, the MON majority or the last copy of data."""


@dataclass
class Replay:
    """The cluster as the plan leaves it after each step."""

    members: set[str]
    online: set[str]
    votes: dict[str, int]
    nodeids: dict[str, int]
    desired_votes: dict[str, int]
    qdevice: QDevice | None
    mons: dict[str, bool]
    osds_per_host: dict[str, int] = field(default_factory=dict)
    pool_size: int = 0
    """The largest `size` of any pool: hosts with OSDs must not drop below it."""
    reloading: dict[str, Reload] = field(default_factory=dict)
    """The network reloads of the batch being replayed (they run at once), by action id."""

    def quorate(self, up: set[str]) -> tuple[bool, str]:
        if not self.members:
            return True, ""
        ms = [Member(n, self.nodeids.get(n, i + 1), self.votes.get(n, 1)) for i, n in enumerate(sorted(self.members))]
        verdict = partition_quorum(ms, [sorted(up & self.members)], self.qdevice)[0]
        return verdict.quorate, verdict.reason

    def mon_ok(self, down: set[str]) -> tuple[bool, str]:
        if not self.mons:
            return True, ""
        alive = sum(1 for n, ok in self.mons.items() if ok and n not in down)
        need = len(self.mons) // 2 + 1
        return alive >= need, f"{alive} of {len(self.mons)} monitors up, need {need}"


Effect = Callable[[Replay, "Action", str], None]


def join(state: Replay, action: Action, where: str) -> None:
    if action.node:
        if isinstance(action.params, P.ClusterCreate):
            state.members = set()
        state.members.add(action.node)
        state.votes[action.node] = state.desired_votes.get(action.node, 1)
        state.online.add(action.node)


def _power_off_for_removal(state: Replay, gone: str, where: str) -> None:
    ok, why = state.quorate(state.online - {gone})
    if not ok:
        raise UnsafeStep(f"{where} would lose quorum while {gone} is powered off for removal: {why}")
    state.online.discard(gone)


def node_shutdown(state: Replay, action: Action, where: str) -> None:
    assert isinstance(action.params, P.NodeShutdown)
    _power_off_for_removal(state, action.params.node, where)


def node_remove(state: Replay, action: Action, where: str) -> None:
    assert isinstance(action.params, P.NodeRemove)
    _power_off_for_removal(state, action.params.node, where)
    state.members.discard(action.params.node)


@dataclass(frozen=True)
class Reload:
    """One node's network reload, as the quorum and MON checks see it."""

    node: str
    corosync: bool
    """The change touches an address a Corosync link of the node uses."""
    ceph: bool
    """The change touches an address in Ceph's public network."""

    @classmethod
    def of(cls, node: str, params: P.NetworkApply) -> Reload:
        return cls(node, params.affects_corosync, params.affects_ceph)


def reload_risk(state: Replay, batch: Sequence[Reload]) -> str | None:
    """Why reloading the networks of `batch` at the same time is unsafe, or None.

    A node that is not a cluster member yet takes nothing away. One member alone is out
    of the cluster only when its change touches its Corosync links (or, for its MON, the
    Ceph public network). Several members at once are each counted out whatever they
    change: the plan cannot rule out one cause taking them all out together (a switch,
    an MTU on every node), and then they come back only through their own reverts; so a
    batch is never more members than the cluster can lose and stay quorate (votes, a
    QDevice's included) with a majority of its MONs."""
    members = [r for r in batch if r.node in state.members]
    together = len(members) > 1
    down = {r.node for r in members if r.corosync or together}
    names = ", ".join(r.node for r in members)
    if down:
        ok, why = state.quorate(state.online - down)
        if not ok:
            if together:
                return f"reloading the networks of {names} at once would leave the rest not quorate: {why}"
            return f"reloading the network of {names} interrupts its corosync links and the rest would not be " \
                   f"quorate: {why}"
    mons_down = {r.node for r in members if (r.ceph or together) and r.node in state.mons}
    if mons_down:
        ok, why = state.mon_ok(mons_down)
        if not ok:
            return f"the monitor(s) on {', '.join(sorted(mons_down))} would drop out during the reload: {why}"
    return None


def reload_batches(state: Replay, reloads: Sequence[Reload]) -> list[list[Reload]]:
    """`reloads` cut into batches that may each run at once, in order: each reload goes
    into the first batch that `reload_risk` still allows with it (first fit, in the given
    order), so every node that is not a member yet lands in the first. A member that is
    unsafe even alone gets a batch of its own, which the replay then refuses, saying why."""
    batches: list[list[Reload]] = []
    for r in reloads:
        home = next((b for b in batches if reload_risk(state, [*b, r]) is None), None)
        if home is None:
            batches.append([r])
        else:
            home.append(r)
    return batches


def network_apply(state: Replay, action: Action, where: str) -> None:
    """A network reload joins the batch being replayed, unless it waits for one of that
    batch's reloads (the planner chains batches so): then it starts the next batch.
    The whole batch must be safe at once, as apply runs it in one play."""
    assert isinstance(action.params, P.NetworkApply) and action.node is not None
    if {str(d) for d in action.depends_on} & state.reloading.keys():
        state.reloading = {}
    state.reloading[str(action.id)] = Reload.of(action.node, action.params)
    why = reload_risk(state, list(state.reloading.values()))
    if why is not None:
        raise UnsafeStep(f"{where}: {why}")


def qdevice_remove(state: Replay, action: Action, where: str) -> None:
    state.qdevice = None
    ok, why = state.quorate(state.online)
    if not ok:
        raise UnsafeStep(f"{where}: removing the QDevice loses quorum: {why}")


def qdevice_setup(state: Replay, action: Action, where: str) -> None:
    assert isinstance(action.params, P.QdeviceSetup)
    state.qdevice = QDevice("lms" if action.params.algorithm == "lms" else "ffsplit")


def mon_create(state: Replay, action: Action, where: str) -> None:
    if action.node:
        state.mons[action.node] = True


def mon_destroy(state: Replay, action: Action, where: str) -> None:
    node = action.node
    if len(state.mons) <= 1:
        raise UnsafeStep(f"{where}: refusing to remove the last monitor")
    rest = {n: ok for n, ok in state.mons.items() if n != node}
    alive = sum(1 for ok in rest.values() if ok)
    need = len(rest) // 2 + 1
    if alive < need:
        raise UnsafeStep(f"{where}: removing the monitor on {node} leaves {alive} of {len(rest)} "
                         f"monitors in quorum, need {need}")
    state.mons = rest


def osd_create(state: Replay, action: Action, where: str) -> None:
    if action.node:
        state.osds_per_host[action.node] = state.osds_per_host.get(action.node, 0) + 1


def osd_destroy(state: Replay, action: Action, where: str) -> None:
    if not action.node:
        return
    state.osds_per_host[action.node] = max(0, state.osds_per_host.get(action.node, 0) - 1)
    hosts = sum(1 for n in state.osds_per_host.values() if n > 0)
    if state.pool_size and hosts < state.pool_size:
        raise UnsafeStep(f"{where}: after removing this OSD only {hosts} host(s) hold OSDs, but a pool keeps "
                         f"{state.pool_size} copies on different hosts; placement groups would stay degraded "
                         "(add OSDs on other hosts first, or lower the pools' size)")


def pool_size(state: Replay, action: Action, where: str) -> None:
    size = getattr(action.params, "size", None)
    if isinstance(size, int):
        state.pool_size = max(state.pool_size, size)
