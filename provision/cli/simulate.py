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
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from provision.cli.common import stdout_console

if TYPE_CHECKING:
    from provision.simulate import Report
    from provision.spec import Cluster

# The simulator and the spec models are imported by the command when it runs:
# `provision simulate --help` needs neither.

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
    from provision.spec import SpecError, load_stack

    try:
        return load_stack(stack).cluster
    except SpecError as exc:
        for diagnostic in exc.diagnostics:
            _err(f"error: {diagnostic}")
        raise typer.Exit(1) from None


def _live_cluster(stack: Path, lab: str | None) -> tuple[Cluster, str, list[str], list[str]]:
    """The discovered cluster with the spec's planning data: (cluster, source, notes, down now)."""
    from provision.discover import ApiClient, DiscoveryError, discover, from_connection, from_lab
    from provision.simulate.live import discovery_gaps, with_planning_data
    from provision.spec import SpecError, load_stack

    spec: Cluster | None = None
    try:
        spec = load_stack(stack).cluster
    except SpecError as exc:
        if lab is None:
            for diagnostic in exc.diagnostics:
                _err(f"error: {diagnostic}")
            raise typer.Exit(1) from None
    try:
        if lab is not None:
            endpoint = from_lab(lab)
        elif spec is not None and spec.connection is not None:
            endpoint = from_connection(spec.connection)
        else:
            _err(f"error: {stack} has no `connection`; name a lab with --lab NAME")
            raise typer.Exit(1)
        found = discover(ApiClient.for_endpoint(endpoint), hint_nodes=spec.node_names if spec else ())
    except DiscoveryError as exc:
        _err(f"error: discovery failed: {exc}")
        raise typer.Exit(1) from None
    if not found.observed.clustered:
        _err(f"error: {endpoint.describe()} is not a cluster yet (standalone nodes): nothing to simulate")
        raise typer.Exit(1)
    if not found.observed.members:
        unreadable = "; ".join(f"{n}: {why}" for n, why in sorted(found.observed.unreadable.items()))
        _err(f"error: discovery returned no corosync members{': ' + unreadable if unreadable else ''}")
        raise typer.Exit(1)
    gaps = discovery_gaps(found.cluster)
    if gaps:
        for gap in gaps:
            _err(f"error: discovered cluster is incomplete: {gap}")
        raise typer.Exit(1)
    cluster, notes = with_planning_data(found.cluster, spec)
    down = [n for n, m in sorted(found.observed.members.items()) if not m.online]
    if down:
        notes.append(f"offline now: {', '.join(down)} (every scenario starts with them failed)")
    return cluster, f"live cluster, {endpoint.describe()}", notes, down


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
    output: Format = typer.Option(Format.text, "--format", "-f", help="text (tables) or json (versioned document)."),
    ceph_used: float | None = typer.Option(
        None, "--ceph-used", min=0.0, max=100.0, metavar="PERCENT",
        help="Raw Ceph usage now, in percent: checks that backfill onto the survivors fits.",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="With --each-node, also print every scenario."),
    maintenance: list[str] = typer.Option(
        [], "--maintenance", metavar="NODE",
        help="NODE enters HA maintenance (node-maintenance enable), then leaves it. Repeatable.",
    ),
    reboot: list[str] = typer.Option(
        [], "--reboot", metavar="NODE", help="NODE reboots cleanly under the HA shutdown policy. Repeatable.",
    ),
    shutdown: list[str] = typer.Option(
        [], "--shutdown", metavar="NODE", help="NODE shuts down cleanly under the HA shutdown policy. Repeatable.",
    ),
    shutdown_policy: str | None = typer.Option(
        None, "--shutdown-policy", metavar="POLICY",
        help="conditional|freeze|failover|migrate (default: the stack's, else PVE's default conditional).",
    ),
    live: bool = typer.Option(
        False, "--live", help="Simulate the cluster as discovered (via the stack's connection), not the spec."
    ),
    lab: str | None = typer.Option(None, "--lab", metavar="NAME", help="Discover this lab (implies --live)."),
) -> None:
    """Simulate node failures, clean shutdowns and reboots, HA maintenance, link and network
    failures: quorum, HA recovery, Ceph, capacity."""
    from provision.simulate import EventError, each_node_scenarios, parse_events, scenario_from_cli, simulate
    from provision.simulate.live import currently_down
    from provision.simulate.policy import shutdown_policy as policy_of

    notes: list[str] = []
    down: list[str] = []
    if live or lab is not None:
        cluster, source, notes, down = _live_cluster(stack, lab)
    else:
        cluster = _load(stack)
        source = f"spec {stack}"
    links = [link.number for link in cluster.corosync.links]
    try:
        policy, _ = policy_of(cluster, shutdown_policy)
        if each_node:
            if recover or maintenance or reboot or shutdown:
                raise EventError("--recover, --maintenance, --reboot and --shutdown cannot be combined with "
                                 "--each-node")
            base = [*currently_down((n, n not in down) for n in cluster.node_names), *parse_events(
                cluster.node_names, links, fail=fail, link_down=link_down, partition=partition)]
            scenarios = each_node_scenarios(cluster, base)
        else:
            scenarios = [
                scenario_from_cli(
                    cluster.node_names, links, fail=fail, link_down=link_down, partition=partition, recover=recover,
                    already_down=down, maintenance=maintenance, reboot=reboot, shutdown=shutdown,
                    shutdown_policy=policy,
                )
            ]
        report = simulate(
            cluster, scenarios, source=source, each_node=each_node,
            ceph_used=None if ceph_used is None else ceph_used / 100, notes=notes,
        )
    except EventError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(1) from None
    except ValueError as exc:  # the crm refuses an inconsistent model (duplicate ids, bad votes)
        _err(f"error: cannot simulate {source}: {exc}")
        raise typer.Exit(1) from None
    _emit(report, output, verbose)
    if fail_on is FailOn.unavailable and report.unavailable:
        raise typer.Exit(1)
    if fail_on is FailOn.degraded and report.degraded:
        raise typer.Exit(1)


def _emit(report: Report, output: Format, verbose: bool) -> None:
    from provision.simulate import render_report, report_json

    if output is Format.json:
        sys.stdout.write(json.dumps(report_json(report), indent=2) + "\n")
        return
    render_report(report, stdout_console(), verbose=verbose)


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the ``provision`` command."""
    app.command("simulate")(simulate_command)
