"""``provision drill STACK --node NODE``: a live HA failover drill with a filed report.

Exit 0 when every service moved where ``simulate`` predicted and came back, 1 otherwise
(refused, a mismatch, a timeout, an error, or an interruption, after which the node is
taken out of maintenance again).
"""

from __future__ import annotations

from pathlib import Path

import typer

from provision.cli.common import Format, errors, fail

# The drill (discovery, the CRM, the simulator) and the spec models are imported by the
# command when it runs: `provision drill --help` needs none of them.

__all__ = ["register"]


@errors
def drill_cmd(
    stack: Path = typer.Argument(..., help="Stack file (YAML) of the cluster."),
    node: str = typer.Option(..., "--node", metavar="NODE", help="Node to put into HA maintenance."),
    lab: str | None = typer.Option(None, "--lab", metavar="NAME", help="Use this local lab instead of the "
                                   "stack's connection."),
    fmt: Format = typer.Option(Format.text, "--format", "-f", help="Report format."),
    out: Path | None = typer.Option(None, "--out", "-o", metavar="FILE", help="Also write the report to FILE."),
    timeout: float = typer.Option(600.0, "--timeout", min=1.0, metavar="SECONDS",
                                  help="Longest wait for the moves, and again for the failback."),
    poll: float = typer.Option(2.0, "--poll", min=0.05, metavar="SECONDS",
                               help="How often the HA manager status is read."),
    insecure: bool = typer.Option(False, "--insecure", help="Do not verify the API's TLS certificate."),
    allow_degraded: bool = typer.Option(False, "--allow-degraded", help="Run although another member is "
                                        "offline (the report says so)."),
) -> None:
    """Put NODE into HA maintenance, compare every move with `simulate`, take it out, report."""
    from pydantic import ValidationError

    from provision.drill import ChannelError, DrillOptions, render, run_drill
    from provision.spec import Connection

    connection = None
    if lab is not None:
        try:
            connection = Connection.model_validate({"lab": lab})
        except ValidationError as exc:
            raise fail(f"error: --lab {lab}: {exc.errors()[0]['msg']}") from None
    if insecure:
        typer.echo("warning: --insecure: the API's TLS certificate is not verified", err=True)
    options = DrillOptions(node=node, connection=connection, insecure=insecure, timeout=timeout, poll=poll,
                           allow_degraded=allow_degraded)
    try:
        report = run_drill(stack, options, progress=lambda msg: typer.echo(f"drill: {msg}", err=True))
    except ChannelError as exc:
        raise fail(f"error: {exc}") from None
    text = render(report, fmt.value)
    if out is not None:
        out.write_text(text, encoding="utf-8")
    typer.echo(text, nl=False)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    app.command("drill")(drill_cmd)
