"""``provision simulate``: what happens to quorum, HA, Ceph and capacity if nodes fail.

Nothing is touched: the answer comes from the stack file (or, with ``--live``, from
the cluster as discovered), run through the same quorum and CRM code as the lab. Exit 0,
or 1 on errors and when ``--fail-on`` finds what it was told to fail on, so CI can
require "any one node may die" with ``--each-node --fail-on unavailable``.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console

from provision.simulate import (
    EventError,
    Report,
    each_node_scenarios,
    parse_events,
    render_report,
    report_json,
    scenario_from_cli,
    simulate,
)
from provision.spec import Cluster, SpecError, load_stack

__all__ = ["register"]


class FailOn(StrEnum):
    unavailable = "unavailable"
    degraded = "degraded"


class Format(StrEnum):
    text = "text"
    json = "json"


def _err(message: str) -> None:
    Console(stderr=True, highlight=False, soft_wrap=True).print(message, markup=False)


def _load(stack: Path) -> Cluster:
    try:
        return load_stack(stack).cluster
    except SpecError as exc:
        for diagnostic in exc.diagnostics:
            _err(f"error: {diagnostic}")
        raise typer.Exit(1) from None


def _live_cluster(stack: Path, lab: str | None) -> tuple[Cluster, str]:
    """The observed cluster, through ``provision.discover`` (imported late: optional)."""
    try:
        from provision.discover import discover_cluster  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        _err("error: --live/--lab need cluster discovery (provision.discover), which is not available in this "
             "build yet; simulate the stack file instead (drop --live)")
        raise typer.Exit(1) from None
    cluster: Cluster = discover_cluster(stack, lab)  # pragma: no cover - wired when discover lands
    return cluster, f"live cluster{f' (lab {lab})' if lab else ''}"


def simulate_command(
    stack: Path = typer.Argument(..., help="Stack file (YAML) describing the cluster.", show_default=False),
    fail: list[str] = typer.Option(
        [], "--fail", metavar="NODE", help="Node that fails (repeatable); 'qdevice' fails the QDevice."
    ),
    link_down: list[str] = typer.Option(
        [], "--link-down", metavar="NODE:LINK", help="Corosync link LINK fails on NODE (repeatable)."
    ),
    partition: list[str] = typer.Option(
        [], "--partition", metavar="A,B/C",
        help="Network split: groups separated by '/', nodes by ','. Put 'qdevice' in the group that "
        "still reaches qnetd (default: every group does).",
    ),
    recover: list[str] = typer.Option(
        [], "--recover", metavar="NODE",
        help="A failed node comes back after the failures settled (shows failback). Repeatable.",
    ),
    each_node: bool = typer.Option(
        False, "--each-node", help="Fail every node in turn (N-1) and print a matrix."
    ),
    fail_on: FailOn | None = typer.Option(
        None, "--fail-on",
        help="Exit 1 if a scenario leaves a service or pool unavailable (or also degraded).",
    ),
    output: Format = typer.Option(Format.text, "--format", help="text (tables) or json (versioned document)."),
    ceph_used: float | None = typer.Option(
        None, "--ceph-used", min=0.0, max=100.0, metavar="PERCENT",
        help="Raw Ceph usage now, in percent: checks that backfill onto the survivors fits.",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="With --each-node, also print every scenario."),
    live: bool = typer.Option(False, "--live", help="Use the cluster as discovered instead of the spec."),
    lab: str | None = typer.Option(None, "--lab", metavar="NAME", help="With --live: discover this lab."),
) -> None:
    """Simulate node, link and network failures: quorum, HA recovery, Ceph, capacity."""
    if live or lab is not None:
        cluster, source = _live_cluster(stack, lab)
    else:
        cluster = _load(stack)
        source = f"spec {stack}"
    links = [link.number for link in cluster.corosync.links]
    try:
        if each_node:
            if recover:
                raise EventError("--recover cannot be combined with --each-node")
            base = parse_events(cluster.node_names, links, fail=fail, link_down=link_down, partition=partition)
            scenarios = each_node_scenarios(cluster, base)
        else:
            scenarios = [
                scenario_from_cli(
                    cluster.node_names, links, fail=fail, link_down=link_down, partition=partition, recover=recover
                )
            ]
        report = simulate(
            cluster, scenarios, source=source, each_node=each_node,
            ceph_used=None if ceph_used is None else ceph_used / 100,
        )
    except EventError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(1) from None
    _emit(report, output, verbose)
    if fail_on is FailOn.unavailable and report.unavailable:
        raise typer.Exit(1)
    if fail_on is FailOn.degraded and report.degraded:
        raise typer.Exit(1)


def _emit(report: Report, output: Format, verbose: bool) -> None:
    if output is Format.json:
        sys.stdout.write(json.dumps(report_json(report), indent=2) + "\n")
        return
    render_report(report, Console(highlight=False), verbose=verbose)


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the ``provision`` command."""
    app.command("simulate")(simulate_command)
