"""Which running guests a plan stops, migrates or restarts, named, before anyone applies it.

A `~ ha.group["web"]` that changes node priorities looks like any other update, yet the
HA manager answers it by moving guests; `state: started → stopped` shuts a guest down.
A reviewer must see that. The prediction starts from live placement (the node each
guest runs on, from discovery) and asks the CRM model (`provision.crm`, the same code
the lab and `simulate` use) which moves it starts on its own under the stack's HA
configuration and which it would start under today's; the difference is what the plan
causes. Each predicted effect is attached to the change that causes it.

Impact kinds, as PVE carries them out (pve-ha-manager `src/PVE/HA/Resources/`):
- `stop`: the resource's requested state becomes `stopped` or `disabled`; the CRM shuts
  the guest down.
- `start`: the requested state becomes `started` for a guest HA kept off.
- `migrate`: a VM moves to another node; HA migrates VMs online (`PVEVM.pm` migrate).
- `restart`: a container moves to another node; containers cannot migrate online, so HA
  shuts them down, relocates and starts them (`PVECT.pm` migrate, "always relocate").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from provision import crm
from provision.discover.observed import Observed
from provision.plan.diff import Change
from provision.spec.cluster import Cluster
from provision.spec.hapolicy import placement_mode

STOPPED = ("stopped", "disabled")


@dataclass(frozen=True)
class GuestImpact:
    """One guest affected by one change."""

    guest: str
    impact: str  # stop | start | migrate | restart
    node: str | None  # where it runs now (None: discovery did not list the guest)
    target: str | None = None  # where a move takes it
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"guest": self.guest, "impact": self.impact, "node": self.node, "target": self.target,
                "why": self.why}


def _services(cluster: Cluster, placement: dict[str, str]) -> list[crm.Service]:
    out = []
    for r in cluster.ha.resources:
        if r.sid not in placement:
            continue  # no live placement: nothing to predict from
        guest = cluster.guest(r.sid)
        out.append(crm.Service(sid=r.sid, node=placement[r.sid], state=r.state, group=r.group, failback=r.failback,
                               max_restart=r.max_restart, max_relocate=r.max_relocate,
                               memory_mib=guest.memory_mib if guest else 0,
                               cores=float(guest.cores) if guest else 0.0))
    return out


def _moves(cluster: Cluster, placement: dict[str, str], nodes: Sequence[crm.NodeInfo]) -> list[crm.Move]:
    try:
        config = crm.ha_config(cluster.ha.groups, cluster.ha.rules)
        return crm.pending_moves(_services(cluster, placement), nodes, config, placement_mode(cluster.ha.crs))
    except ValueError:
        return []  # an HA configuration the CRM model refuses: no prediction rather than a wrong one


def _nodes(desired: Cluster, observed: Cluster, facts: Observed | None) -> list[crm.NodeInfo]:
    names = sorted(set(observed.node_names) | set(facts.members if facts else ()))
    online = {n for n, m in facts.members.items() if m.online} if facts and facts.clustered else set(names)
    capacity = {n.name: n.capacity for n in desired.nodes}
    out = []
    for name in names:
        cap = capacity.get(name)
        out.append(crm.NodeInfo(name, name in online, memory_mib=cap.memory_mib if cap else 0,
                                cores=cap.cores if cap else 0))
    return out


def _cause(sid: str, desired: Cluster, observed: Cluster, changed: dict[str, Change]) -> str | None:
    """The address of the HA change that moves `sid`: its resource, its group, a rule naming it."""
    candidates = [f'ha.resource["{sid}"]']
    for cluster in (desired, observed):
        resource = cluster.ha.resource(sid)
        if resource is not None and resource.group:
            candidates.append(f'ha.group["{resource.group}"]')
        candidates += [f'ha.rule["{rule.name}"]' for rule in cluster.ha.rules if sid in rule.resources]
    found = next((c for c in candidates if c in changed), None)
    if found is None:
        found = next((a for a in changed if a.startswith("ha.")), None)
    return found


def _state_impacts(change: Change, placement: dict[str, str]) -> list[GuestImpact]:
    if not str(change.address).startswith("ha.resource["):
        return []
    sid = str(change.address.segments[-1][1])
    old = (change.before or {}).get("state") if change.action != "create" else None
    new = (change.after or {}).get("state")
    node = placement.get(sid)
    if new in STOPPED and old not in STOPPED and change.action in ("create", "update", "replace"):
        return [GuestImpact(sid, "stop", node, why=f"requested state {old or '(new)'} → {new}")]
    if new == "started" and old in STOPPED:
        return [GuestImpact(sid, "start", node, why=f"requested state {old} → started")]
    return []


def guest_impacts(changes: Sequence[Change], desired: Cluster, observed: Cluster,
                  facts: Observed | None) -> dict[str, list[GuestImpact]]:
    """Change address -> the guests it stops, starts, migrates or restarts."""
    placement = {g.sid: g.node for g in observed.guests}
    changed = {str(c.address): c for c in changes if c.action in ("create", "update", "replace", "delete")}
    out: dict[str, list[GuestImpact]] = {}
    for address, change in changed.items():
        found = _state_impacts(change, placement)
        if found:
            out.setdefault(address, []).extend(found)
    if not any(a.startswith("ha.") for a in changed):
        return out
    nodes = _nodes(desired, observed, facts)
    today = {(m.sid, m.target) for m in _moves(observed, placement, nodes)}
    stopping = {i.guest for items in out.values() for i in items if i.impact == "stop"}
    for move in _moves(desired, placement, nodes):
        if (move.sid, move.target) in today or move.sid in stopping:
            continue
        cause = _cause(move.sid, desired, observed, changed)
        if cause is None:
            continue
        kind = "restart" if move.sid.startswith("ct:") else "migrate"
        out.setdefault(cause, []).append(GuestImpact(move.sid, kind, move.source, move.target, move.reason))
    return {a: sorted(v, key=lambda i: (i.guest, i.impact)) for a, v in sorted(out.items())}


__all__ = ["GuestImpact", "guest_impacts"]
