"""What-if analysis: what node, link and network failures do to quorum, HA, Ceph and capacity.

Answers "if pve01 dies, where does vm:100 restart, and does Ceph keep I/O?" before
anything is touched. Quorum and HA placement come from ``provision.crm`` (the code the
lab's CRM runs), so the prediction and the lab agree by construction; this package only
models the events, corosync connectivity, Ceph replica math and capacity, and reports.
"""

from __future__ import annotations

from provision.simulate.engine import (
    ASSUMPTIONS,
    Report,
    ScenarioResult,
    StepResult,
    each_node_scenarios,
    run,
    simulate,
)
from provision.simulate.events import (
    QDEVICE,
    Event,
    EventError,
    LinkDown,
    Maintenance,
    MaintenanceEnd,
    NodeDown,
    NodeShutdown,
    NodeUp,
    Partition,
    QDeviceDown,
    Scenario,
    describe_event,
    parse_events,
    scenario_from_cli,
)
from provision.simulate.output import FORMAT, FORMAT_VERSION, report_json
from provision.simulate.render import render_report

__all__ = [
    "ASSUMPTIONS",
    "FORMAT",
    "FORMAT_VERSION",
    "QDEVICE",
    "Event",
    "EventError",
    "LinkDown",
    "Maintenance",
    "MaintenanceEnd",
    "NodeDown",
    "NodeShutdown",
    "NodeUp",
    "Partition",
    "QDeviceDown",
    "Report",
    "Scenario",
    "ScenarioResult",
    "StepResult",
    "describe_event",
    "each_node_scenarios",
    "parse_events",
    "render_report",
    "report_json",
    "run",
    "scenario_from_cli",
    "simulate",
]
