"""What each action kind does to quorum, the Ceph monitor majority and OSD redundancy.

The planner replays a plan step by step against a `Replay` (votes, members, QDevice,
monitors, OSDs per host) and refuses the plan at the first step that would lose
corosync quorum, drop the monitors below a majority, or leave fewer hosts with OSDs
than a pool keeps copies. Each kind's effect lives here, beside the others, and the
catalogue names it; the replay itself is a fold over kinds, not a chain of ifs.
"""

from __future__ import annotations

from collections.abc import Callable
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


def network_apply(state: Replay, action: Action, where: str) -> None:
    assert isinstance(action.params, P.NetworkApply)
    node = action.node
    if node not in state.members:
        return
    if action.params.affects_corosync:
        ok, why = state.quorate(state.online - {node})
        if not ok:
            raise UnsafeStep(f"{where}: reloading the network of {node} interrupts its corosync links "
                             f"and the rest would not be quorate: {why}")
    if action.params.affects_ceph and node in state.mons:
        ok, why = state.mon_ok({node})
        if not ok:
            raise UnsafeStep(f"{where}: the monitor on {node} would drop out during the reload: {why}")


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
