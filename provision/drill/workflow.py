"""``provision drill``: put a node into HA maintenance, check every move against the
prediction, take it out again and wait for the failback.

Order: read the cluster like ``plan`` does; predict with ``simulate``; refuse before any
change when the prediction leaves a service without a node, the cluster has no quorum,
the node is not online (or already in maintenance) or another member is offline (unless
``allow_degraded``); enable maintenance; watch the
manager status until the node is ``maintenance`` and every move settled; disable it; watch
until the node is ``online`` and the failback settled. Whatever happens after maintenance
was enabled (a timeout, an error, Ctrl-C / SIGTERM / SIGHUP), it is disabled again before
the drill ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from provision.apply.signals import Interrupted, StopSignals
from provision.discover.ha_status import ARM_COMMAND
from provision.drill import channel
from provision.drill.predict import predict
from provision.drill.report import DrillReport, ServiceResult, Verdict
from provision.drill.watch import Phase, read_status, wait_phase
from provision.plan import read_live
from provision.simulate.live import discovery_gaps, with_planning_data
from provision.spec import Connection

__all__ = ["DrillOptions", "run_drill"]


@dataclass(frozen=True)
class DrillOptions:
    node: str
    connection: Connection | None = None  # overrides the stack's (`--lab NAME`)
    insecure: bool = False
    timeout: float = 600.0
    poll: float = 2.0
    allow_degraded: bool = False  # run although another member is offline (`--allow-degraded`)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_drill(stack: Path, options: DrillOptions, progress: Callable[[str], None] = lambda _: None) -> DrillReport:
    """Run the drill and return its report (``verdict`` says how it went)."""
    live = read_live(stack, options.connection, insecure=options.insecure)
    cluster, notes = with_planning_data(live.found.cluster, live.desired)
    report = DrillReport(cluster.name, options.node, live.endpoint.describe(), _now(), notes=notes)
    chosen = options.connection or live.desired.connection  # as read_live chose it
    lab = chosen.lab if chosen is not None else None
    down = tuple(n for n, m in sorted(live.found.observed.members.items()) if not m.online)
    prediction = predict(cluster, options.node, down)
    refusals = [*(f"discovered cluster is incomplete: {g}" for g in discovery_gaps(cluster)), *prediction.refusals]
    if others := [n for n in down if n != options.node]:
        # With a member already down the drill tests less than the cluster's failover and one
        # more failure during it can take a service's last node or the quorum: refused unless
        # asked for, and then the evidence says the drill ran with fewer nodes than it has.
        if not options.allow_degraded:
            refusals.append(f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} offline: a drill now would "
                            f"leave {options.node}'s services fewer nodes and the cluster less quorum margin than "
                            "it has (bring it back, or run with --allow-degraded)")
        report.notes.append(f"ran on a degraded cluster: {', '.join(others)} offline, so {options.node}'s "
                            "services had fewer nodes to go to than the cluster normally has")
    current = read_status(live.client.get)
    if current.disarm is not None:
        # Disarmed, the CRM ignores a maintenance request and moves nothing (Manager.pm:683):
        # the drill would time out and prove nothing about failover.
        refusals.append(f"{current.disarm.describe()}: the HA manager ignores node maintenance and moves nothing "
                        f"while disarmed, so a drill would prove nothing; arm it first ({ARM_COMMAND})")
    if current.nodes.get(options.node) == "maintenance" or current.requests.get(options.node, {}).get("maintenance"):
        refusals.append(f"{options.node} is in maintenance already; disable it first "
                        f"(ha-manager crm-command node-maintenance disable {options.node})")
    report.services = [ServiceResult(sid, before, prediction.during.get(sid, ""), reason=prediction.reasons[sid],
                                     predicted_back=prediction.after.get(sid, ""))
                       for sid, before in sorted(prediction.before.items())]
    if refusals:
        report.verdict, report.problems, report.finished = "refused", refusals, _now()
        return report
    inventory = channel.inventory_for(live.desired, lab)
    get = live.client.get
    enabled = False
    start, moved = time.monotonic(), current
    with StopSignals() as stop:
        try:
            with stop.deferred():
                progress(f"enabling HA maintenance on {options.node}")
                start = time.monotonic()
                report.timeline.append((_now(), f"enabling maintenance on {options.node}"))
                channel.node_maintenance(inventory, options.node, options.node, "enable")
                enabled = True
                report.timeline.append((_now(), f"maintenance requested on {options.node}"))
            progress("waiting for the HA manager to move the services")
            away = wait_phase(get, options.node, "maintenance", baseline=current, start=start,
                              timeout=options.timeout, poll=options.poll, check=stop.check)
            _record(report, away, back=False)
            moved = away.final
            report.timeline.append((_now(), "moves settled" if away.settled else "timed out waiting for the moves"))
        except Interrupted as exc:
            report.verdict = "interrupted"
            report.problems.append(f"interrupted ({exc.name}) while {options.node} was in maintenance")
        except channel.ChannelError as exc:
            report.problems.append(str(exc))
        finally:
            if enabled:
                with stop.deferred(then_raise=False):
                    progress(f"disabling HA maintenance on {options.node}")
                    start = time.monotonic()
                    report.timeline.append((_now(), f"disabling maintenance on {options.node}"))
                    try:
                        channel.node_maintenance(inventory, options.node, options.node, "disable")
                        report.timeline.append((_now(), f"maintenance disabled on {options.node}"))
                    except channel.ChannelError as exc:
                        enabled = False  # no failback to wait for; the admin must act
                        report.problems.append(f"{options.node} is still in maintenance: {exc} (run "
                                               f"`ha-manager crm-command node-maintenance disable {options.node}`)")
        if enabled and report.verdict != "interrupted":
            try:
                progress("waiting for the failback")
                back = wait_phase(get, options.node, "online", baseline=moved, start=start,
                                  timeout=options.timeout, poll=options.poll, check=stop.check)
                _record(report, back, back=True)
                report.timeline.append((_now(), "failback settled" if back.settled else "timed out waiting for "
                                        "the failback"))
            except Interrupted as exc:
                report.verdict = "interrupted"
                report.problems.append(f"interrupted ({exc.name}) while waiting for the failback")
    report.finished = _now()
    if report.verdict != "interrupted":
        report.verdict = _verdict(report)
    return report


def _record(report: DrillReport, phase: Phase, *, back: bool) -> None:
    key = "failback" if back else "maintenance"
    report.durations[key] = phase.elapsed
    if not phase.settled:
        report.problems.append(f"{key}: not settled after {phase.elapsed:.0f} s (node "
                               f"{phase.final.nodes.get(report.node, 'unknown')}, busy: "
                               + ", ".join(f"{sid} {st}" for sid, (_, st) in sorted(phase.final.services.items())
                                           if st not in ("started", "stopped")) + ")")
    for svc in report.services:
        where = phase.final.services.get(svc.sid, ("", ""))[0] or None
        if back:
            svc.actual_back, svc.back_after_s = where, phase.arrived.get(svc.sid)
        else:
            svc.actual, svc.moved_after_s = where, phase.arrived.get(svc.sid)
    if not phase.settled:
        report.verdict = "timeout"


def _verdict(report: DrillReport) -> Verdict:
    """Passed only when both phases settled, nothing failed and every node matched."""
    for svc in report.services:  # only phases that were watched (an error says why another was not)
        if "maintenance" in report.durations and svc.actual != svc.predicted:
            report.problems.append(f"{svc.sid}: predicted on {svc.predicted} during maintenance, was on "
                                   f"{svc.actual or 'no node'}")
        if "failback" in report.durations and svc.actual_back != svc.predicted_back:
            report.problems.append(f"{svc.sid}: predicted back on {svc.predicted_back}, was on "
                                   f"{svc.actual_back or 'no node'}")
    if report.verdict == "timeout":
        return "timeout"
    return "failed" if report.problems else "passed"
