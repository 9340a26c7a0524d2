"""Live failover drills: HA node maintenance on a real (or lab) cluster, checked against
``simulate``'s prediction, with a report a team files as evidence (docs/drill.md)."""

from __future__ import annotations

from provision.drill.channel import ChannelError
from provision.drill.report import FORMAT, FORMAT_VERSION, DrillReport, ServiceResult, render
from provision.drill.workflow import DrillOptions, run_drill

__all__ = ["FORMAT", "FORMAT_VERSION", "ChannelError", "DrillOptions", "DrillReport", "ServiceResult", "render",
           "run_drill"]
