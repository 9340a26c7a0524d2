"""``provision lab ...``: run a simulated PVE cluster and inject faults into it."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from provision.lab import lifecycle
from provision.lab.lifecycle import LabError

F = TypeVar("F", bound=Callable[..., Any])

lab_app = typer.Typer(help="Simulated Proxmox VE clusters for trying pve-provision without hardware.",
                      no_args_is_help=True)
NAME = typer.Option("default", "--name", "-n", help="Lab name (one directory under $PROVISION_HOME/labs).")


def _errors(fn: F) -> F:
    """Turn LabError into one clear line and exit code 1 (never a traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LabError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@lab_app.command()
@_errors
def up(
    name: str = NAME,
    nodes: int = typer.Option(3, "--nodes", help="Number of nodes (pve01..pveNN)."),
    pve: int | None = typer.Option(None, "--pve", help="PVE major version to simulate: 8 (default) or 9."),
    blank: bool = typer.Option(False, "--blank", help="Freshly installed, standalone nodes (the default); with "
                               "--from, the stack's machines (NICs, disks, guests) freshly installed."),
    stack: Path | None = typer.Option(None, "--from", help="Seed the lab as the given stack describes it."),
    time_scale: float = typer.Option(0.02, "--time-scale", help="Multiplier for HA delays (1.0 = real time)."),
    real: bool = typer.Option(False, "--real", help="Real corosync per node in network namespaces (Linux, root)."),
    qnetd: list[str] = typer.Option([], "--qnetd", metavar="IP",
                                    help="A freshly installed Debian host at IP to run corosync-qnetd on "
                                         "(a stack's quorum.qdevice.host); repeatable."),
    real_ceph: bool = typer.Option(False, "--real-ceph", help="--real plus real Ceph daemons (MONs, MGRs, "
                                   "BlueStore OSDs on sparse files) for what pveceph creates."),
) -> None:
    """Start a lab: write its files and run its API server in the background."""
    lab = lifecycle.up(name, nodes, pve, time_scale=time_scale, stack=stack, real_parts=real, qnetd=qnetd,
                       real_ceph=real_ceph, hardware_only=blank)
    conn = lab.connection()
    what = " (real corosync and Ceph)" if real_ceph else " (real corosync)" if real else ""
    typer.echo(f"lab '{lab.name}' up{what}: PVE {conn['pve_version']}, "
               f"nodes {', '.join(conn['nodes'])}")
    typer.echo(f"api: {conn['api_url']}  (connection: {lab.paths.connection})")


@lab_app.command()
@_errors
def down(
    name: str = NAME,
    keep: bool = typer.Option(False, "--keep", help="Stop the server but keep the lab's files."),
) -> None:
    """Stop the lab's server and delete the lab."""
    was_running = lifecycle.down(name, keep=keep)
    typer.echo(f"lab '{name}' {'stopped' if was_running else 'was not running'}"
               f"{'' if keep else ' and removed'}")


@lab_app.command()
@_errors
def status(
    name: str = NAME,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Nodes, power, quorum, HA services and Ceph health."""
    st = lifecycle.status(name)
    if as_json:
        typer.echo(json.dumps(st, indent=2, sort_keys=True))
        return
    console = Console()
    title = f"lab {st['name']} - PVE {st['pve_version']} - " + (
        f"cluster '{st['cluster']}'" if st["cluster"] else "standalone nodes") + f" - {st['api_url']}"
    t = Table(title=title)
    for col in ("node", "power", "quorum", "partition", "votes", "guests"):
        t.add_column(col)
    for n in st["nodes"]:
        quorum = "quorate" if n["quorate"] else ("NO QUORUM" if n["power"] == "on" else "-")
        if not n["member"] and n["power"] == "on":
            quorum = "standalone"
        t.add_row(n["node"], n["power"], quorum, n["partition"], n["votes"], " ".join(n["guests"]))
    console.print(t)
    if st["ha"]:
        ha = Table(title="HA services")
        for col in ("sid", "request", "node", "state"):
            ha.add_column(col)
        for s in st["ha"]:
            ha.add_row(s["sid"], s["request"], s["node"], s["state"])
        console.print(ha)
    ceph = st["ceph"]
    if ceph is None:
        console.print("ceph: not initialised")
    else:
        console.print(f"ceph: {ceph['status']}")
        for check, body in sorted(ceph["checks"].items()):
            console.print(f"  {check}: {body['summary']['message']}")
    if st.get("real"):
        daemons = ", ".join(sorted(st["real"]["daemons"])) or "none running"
        console.print(f"real parts: {daemons}")
    if st["partitions"]:
        console.print("partitions: " + " | ".join(",".join(g) for g in st["partitions"]))
    faults = {k: v for k, v in st["faults"].items() if v}
    if faults:
        console.print(f"faults: {json.dumps(faults, sort_keys=True)}")


@lab_app.command()
@_errors
def fail(node: str = typer.Argument(..., help="Node to power off."), name: str = NAME) -> None:
    """Power a node off (its guests die; HA fences and recovers them)."""
    lifecycle.power(name, node, False)
    typer.echo(f"{node}: powered off")


@lab_app.command()
@_errors
def shutdown(node: str = typer.Argument(..., help="Node to shut down cleanly."), name: str = NAME) -> None:
    """Shut a node down cleanly: its HA services follow datacenter.cfg `ha: shutdown_policy`."""
    policy, mode = lifecycle.node_down_cleanly(name, node, reboot=False)
    typer.echo(f"{node}: shut down (HA shutdown policy {policy}, LRM mode {mode})")


@lab_app.command()
@_errors
def reboot(
    node: str = typer.Argument(..., help="Node to reboot."),
    name: str = NAME,
    down_for: float = typer.Option(120.0, "--down-for", min=0.0, metavar="SECONDS",
                                   help="Simulated seconds the node stays down (scaled by --time-scale)."),
) -> None:
    """Reboot a node cleanly: its HA services follow datacenter.cfg `ha: shutdown_policy`."""
    policy, mode = lifecycle.node_down_cleanly(name, node, reboot=True, down_for=down_for)
    typer.echo(f"{node}: rebooted (HA shutdown policy {policy}, LRM mode {mode})")


@lab_app.command()
@_errors
def recover(node: str = typer.Argument(..., help="Node to power on."), name: str = NAME) -> None:
    """Power a node back on."""
    lifecycle.power(name, node, True)
    typer.echo(f"{node}: powered on")


@lab_app.command()
@_errors
def partition(
    groups: list[str] = typer.Argument(..., help="Groups of nodes, e.g. 'pve01,pve02 pve03'."),
    name: str = NAME,
) -> None:
    """Split the corosync network into groups that cannot reach each other."""
    parsed = [[n for n in g.split(",") if n] for g in groups]
    lifecycle.partition(name, parsed)
    typer.echo("partitioned: " + " | ".join(",".join(g) for g in parsed))


@lab_app.command()
@_errors
def heal(name: str = NAME) -> None:
    """Remove partitions and bring every corosync link back up."""
    lifecycle.heal(name)
    typer.echo("network healed")


@lab_app.command("link-down")
@_errors
def link_down(node: str, link: int, name: str = NAME) -> None:
    """Take corosync link LINK of NODE down."""
    lifecycle.link(name, node, link, False)
    typer.echo(f"{node}: link{link} down")


@lab_app.command("link-up")
@_errors
def link_up(node: str, link: int, name: str = NAME) -> None:
    """Bring corosync link LINK of NODE back up."""
    lifecycle.link(name, node, link, True)
    typer.echo(f"{node}: link{link} up")


@lab_app.command()
@_errors
def faults(
    name: str = NAME,
    api_error_rate: float | None = typer.Option(None, "--api-error-rate", help="Share of API calls answered 500."),
    latency_ms: float | None = typer.Option(None, "--latency-ms", help="Delay added to every API call."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the error-rate random generator."),
    fail_once: list[str] = typer.Option([], "--fail-once", help="Fail the next node CLI call with this prefix."),
    clear: bool = typer.Option(False, "--clear", help="Remove all API faults and pending fail-once entries."),
    ceph_recovery_s: float | None = typer.Option(
        None, "--ceph-recovery-s", help="Seconds Ceph takes to re-replicate an OSD's data (default 2)."),
) -> None:
    """Inject API errors, latency, one-shot node CLI failures, and slow Ceph recovery."""
    current = lifecycle.faults(name, error_rate=api_error_rate, latency_ms=latency_ms, seed=seed,
                               fail_once=fail_once, clear=clear, ceph_recovery_s=ceph_recovery_s)
    typer.echo("faults: " + json.dumps(current, sort_keys=True))


@lab_app.command()
@_errors
def env(node: str, name: str = NAME) -> None:
    """Print shell exports to act as NODE (eval "$(provision lab env pve01)")."""
    typer.echo(lifecycle.env(name, node), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(lab_app, name="lab")
