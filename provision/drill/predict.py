"""What a maintenance drill on one node should do, from ``simulate`` (the CRM's own placement).

The drill runs the scenario "NODE enters HA maintenance, then leaves it" through the what-if
engine on the live cluster (discovered, plus the stack's planning data), and refuses
before touching anything when that scenario ends with a service that has no node to run
on, when the cluster is not quorate, or when the node is not online now.
"""

from __future__ import annotations

from dataclasses import dataclass

from provision.simulate import Maintenance, MaintenanceEnd, NodeDown, Scenario, run
from provision.spec import Cluster

__all__ = ["Prediction", "predict"]


@dataclass(frozen=True)
class Prediction:
    """Per HA service: node now, node during maintenance, node after it; and refusals."""

    before: dict[str, str]
    during: dict[str, str]
    after: dict[str, str]
    reasons: dict[str, str]
    refusals: tuple[str, ...]


def predict(cluster: Cluster, node: str, down: tuple[str, ...] = ()) -> Prediction:
    """Simulate maintenance of ``node`` on ``cluster``; ``down`` are members offline now."""
    refusals: list[str] = []
    if node not in cluster.node_names:
        refusals.append(f"{node} is not a member of cluster {cluster.name} ({', '.join(cluster.node_names)})")
        return Prediction({}, {}, {}, {}, tuple(refusals))
    if node in down:
        refusals.append(f"{node} is offline now: a maintenance drill needs it online")
    first: tuple[NodeDown | Maintenance, ...] = (*(NodeDown(n) for n in down), Maintenance(node))
    result = run(cluster, Scenario(f"maintenance {node}", (first, (MaintenanceEnd(node),))))
    during_step, after_step = result.steps
    if during_step.membership.quorate is None:
        refusals.append("the cluster has no quorate partition: the HA manager would do nothing")
    for svc in during_step.services:
        if svc.action == "lost":
            refusals.append(f"{svc.sid} would be left without a node: {svc.reason}")
        elif svc.state == "started" and svc.before == node and svc.after == node:
            # The CRM keeps it running on the node in maintenance: nothing to fail over to.
            refusals.append(f"{svc.sid} would be left without a node to move to: its group or rules allow no "
                            f"other online node than {node}")
    return Prediction(
        before={s.sid: s.before or "" for s in during_step.services},
        during={s.sid: s.after or "" for s in during_step.services},
        after={s.sid: s.after or "" for s in after_step.services},
        reasons={s.sid: s.reason for s in during_step.services},
        refusals=tuple(refusals),
    )
