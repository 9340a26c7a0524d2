"""Readable text for a simulate report: one block of tables per scenario, or a matrix.

An admin reads this before pulling a plug, so every row says *why*: the quorum math, the
CRM's reason for each placement, the replica count behind a pool's state.
"""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from provision.simulate.engine import Report, ScenarioResult, StepResult
from provision.simulate.output import summary

__all__ = ["render_report"]

_STYLE = {"ok": "green", "degraded": "yellow", "unavailable": "bold red", "blocked": "bold red"}
_ACTION_STYLE = {
    "stays": "",
    "recovered": "yellow",
    "moved": "cyan",
    "relocated-stopped": "yellow",
    "stopped": "dim",
    "disabled": "dim",
    "ignored": "dim",
    "lost": "bold red",
}


def _badge(status: str) -> Text:
    return Text(status.upper(), style=_STYLE.get(status, ""))


def _quorum(step: StepResult) -> Table:
    member = step.membership
    first = member.partitions[0] if member.partitions else None
    title = "Quorum"
    if first is not None:
        title += f" (expected votes {first.expected}, need {first.threshold})"
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("partition")
    table.add_column("votes", justify="right")
    table.add_column("quorate")
    table.add_column("why")
    for p in member.partitions:
        table.add_row(
            ",".join(sorted(p.nodes)),
            f"{p.votes}" + (f" (+{p.qdevice_votes} qdevice)" if p.qdevice_votes else ""),
            Text("yes", style="green") if p.quorate else Text("no", style="red"),
            p.reason,
        )
    for node, fate in sorted(step.fencing.items()):
        table.add_row(node, "-", Text("fenced" if "fenced" in fate or "reset" in fate else "-", style="red"), fate)
    if not member.partitions:
        table.add_row("(none)", "0", Text("no", style="red"), "every node is down")
    return table


def _ha(step: StepResult) -> Table:
    table = Table(title="HA resources", title_justify="left")
    table.add_column("resource")
    table.add_column("state")
    table.add_column("before → after")
    table.add_column("action")
    table.add_column("reason (CRM)", overflow="fold")
    for s in step.services:
        arrow = f"{s.before or '-'} → {s.after or '-'}" if s.before != s.after else f"{s.before or '-'}"
        table.add_row(s.sid, s.state, arrow, Text(s.action, style=_ACTION_STYLE.get(s.action, "")), s.reason)
    return table


def _ceph(step: StepResult) -> RenderableType | None:
    ceph = step.ceph
    if ceph is None:
        return None
    mon = Text(f"MONs: {ceph.mons.reason} — ")
    mon.append("quorate" if ceph.mons.quorate else "NO QUORUM", style="green" if ceph.mons.quorate else "bold red")
    table = Table(title="Ceph pools", title_justify="left")
    table.add_column("pool")
    table.add_column("size/min", justify="right")
    table.add_column("state")
    table.add_column("after backfill")
    table.add_column("why", overflow="fold")
    for p in ceph.pools:
        table.add_row(
            p.name, f"{p.size}/{p.min_size}", _badge(p.state), _badge(p.after_backfill), p.reason
        )
    parts: list[RenderableType] = [mon, table]
    for fs in ceph.filesystems:
        line = Text(f"CephFS {fs.name}: ")
        line.append_text(_badge(fs.state))
        line.append(f" — {fs.reason}")
        parts.append(line)
    parts.append(Text(f"Ceph capacity: {ceph.capacity.text}", style="dim"))
    return Group(*parts)


def _capacity(step: StepResult) -> Table:
    table = Table(title="Capacity (configured guest size on online nodes)", title_justify="left")
    table.add_column("node")
    table.add_column("memory MiB before → after / capacity", justify="right")
    table.add_column("vCPUs before → after / cores", justify="right")
    table.add_column("")
    for load in step.loads:
        mem_cap = "?" if load.capacity_memory_mib is None else str(load.capacity_memory_mib)
        cpu_cap = "?" if load.capacity_cores is None else str(load.capacity_cores)
        warn = load.warnings
        table.add_row(
            load.node,
            f"{load.memory_before} → {load.memory_mib} / {mem_cap}",
            f"{load.cores_before} → {load.cores} / {cpu_cap}",
            Text("OVERCOMMIT", style="yellow") if warn else Text("ok", style="green")
            if load.capacity_memory_mib is not None else Text("no capacity in spec", style="dim"),
        )
    return table


def _step(step: StepResult, index: int, total: int) -> RenderableType:
    parts: list[RenderableType] = []
    if total > 1:
        parts.append(Text(f"Step {index}: {', '.join(step.events) or 'no event'}", style="bold"))
    parts.append(_quorum(step))
    parts.extend(Text(f"warning: {w}", style="yellow") for w in step.membership.warnings)
    if step.services:
        parts.append(_ha(step))
    if step.guests_down:
        down = ", ".join(f"{sid} ({node})" for sid, node in step.guests_down)
        parts.append(Text(f"Non-HA guests down with their node: {down}", style="dim"))
    ceph = _ceph(step)
    if ceph is not None:
        parts.append(ceph)
    if step.loads:
        parts.append(_capacity(step))
    for msg in step.unavailable:
        parts.append(Text(f"UNAVAILABLE: {msg}", style="bold red"))
    for msg in step.degraded:
        parts.append(Text(f"degraded: {msg}", style="yellow"))
    return Group(*parts)


def _scenario(result: ScenarioResult) -> RenderableType:
    steps = [_step(s, i, len(result.steps)) for i, s in enumerate(result.steps, 1)]
    title = Text(f"Scenario: {result.scenario.name}  ")
    title.append_text(_badge(result.status))
    return Panel(Group(*steps), title=title, title_align="left", expand=False)


def _matrix(report: Report) -> Table:
    table = Table(title=f"N-1: every single-node failure of cluster {report.cluster}", title_justify="left")
    table.add_column("scenario")
    table.add_column("quorum")
    table.add_column("HA lost")
    table.add_column("HA moved")
    table.add_column("Ceph")
    table.add_column("capacity")
    table.add_column("status")
    for result in report.scenarios:
        row = summary(result)
        quorum = Text(f"yes {row['quorum']}", style="green") if row["quorate"] else Text("NO", style="bold red")
        lost = ", ".join(row["ha_lost"]) or "-"
        table.add_row(
            result.scenario.name,
            quorum,
            Text(lost, style="bold red" if row["ha_lost"] else ""),
            ", ".join(row["ha_moved"]) or "-",
            _badge(row["ceph"]) if row["ceph"] else Text("-"),
            Text(f"{row['capacity_warnings']} warning(s)", style="yellow") if row["capacity_warnings"] else Text("ok"),
            _badge(row["status"]),
        )
    return table


def render_report(report: Report, console: Console, *, verbose: bool = False) -> None:
    """Print the report. ``--each-node`` prints the matrix, and the details with ``verbose``."""
    console.print(Text(f"Cluster {report.cluster} ({report.source})", style="bold"))
    for warning in report.warnings:
        console.print(Text(f"warning: {warning}", style="yellow"))
    if report.each_node:
        console.print(_matrix(report))
        if verbose:
            for result in report.scenarios:
                console.print(_scenario(result))
    else:
        for result in report.scenarios:
            console.print(_scenario(result))
    console.print(Text("Assumptions:", style="dim"))
    for assumption in report.assumptions:
        console.print(Text(f"  - {assumption}", style="dim"))
