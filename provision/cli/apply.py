"""`provision apply STACK|PLANFILE`: make the cluster match the stack.

The workflow itself is `provision.apply.apply` (read and re-check the plan, secrets,
locks, playbooks, Ansible, run record, verify); this module only parses options,
asks for confirmation and renders what happened: text (a live panel on a terminal;
without one, a line per phase and per action start/finish with times), `--quiet` (one
line per phase and the summary: always less than the default) or `--format json` (one
event per line, each with its time and action id). `--output`/`-o` is the old spelling
of `--format`, kept working with a warning: `-o` means an output file elsewhere
(`plan -o FILE`, `import -o FILE`). Exit 0 on success or no changes, 1 on any failure
or refusal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from provision.apply.reporter import NETWORK_CONFIRM_SECONDS, EventSink, Reporter
from provision.cli.common import PRUNE_HELP, Format, errors, fail, prune_scope, render_plan, warn_insecure

if TYPE_CHECKING:
    from provision.apply import ApplyOutcome, LockInfo
    from provision.discover import Endpoint

# The workflow (planner, playbook renderer, Ansible's runner) is imported by the command
# when it runs: `provision apply --help` needs none of it.


class Output(StrEnum):
    text = "text"
    json = "json"


class HaMode(StrEnum):
    """`--disarm-ha`'s resource mode, as `ha-manager crm-command disarm-ha` takes it."""

    freeze = "freeze"
    ignore = "ignore"


def _emit(output: Output, text: str, data: dict[str, Any] | None = None) -> None:
    if output is Output.json:
        from provision.apply.actionfeed import event_time


        typer.echo(json.dumps({"event": "apply", "time": event_time({}), **(data or {}), "message": text},
                              sort_keys=True))
    else:
        typer.echo(text)


class CliReporter(Reporter):
    """Shows an apply on the terminal (or as JSON lines) and asks 'yes?'."""

    def __init__(self, output: Output, quiet: bool, auto_approve: bool) -> None:
        self.output = output
        self.quiet = quiet
        self.auto_approve = auto_approve

    def endpoint(self, endpoint: Endpoint) -> None:
        warn_insecure(endpoint)

    def plan(self, document: Mapping[str, Any], *, from_file: bool) -> None:
        if self.output is not Output.text:
            return
        if from_file:  # a reviewed plan: shown only when a prompt asks about it
            show = not self.auto_approve and bool(document.get("actions"))
        else:
            show = not (self.quiet and self.auto_approve)
        if show:
            typer.echo(render_plan(dict(document), Format.text), nl=False)

    def confirm(self, count: int) -> bool:
        if not sys.stdin.isatty():
            raise fail("error: refusing to apply without confirmation: no terminal to ask on; "
                       "review the plan and pass --auto-approve")
        answer = typer.prompt(f"Apply {count} action(s) to the cluster? Only 'yes' is accepted", default="")
        if answer.strip() != "yes":
            raise fail("Apply cancelled.")
        return True

    def lock_taken(self, info: LockInfo, cluster: str) -> None:
        if self.output is Output.text and not self.quiet:
            typer.echo(f"Lock {info.id} taken on cluster {cluster!r}.", err=True)

    def warning(self, text: str) -> None:
        typer.echo(f"warning: {text}", err=True)

    def step(self, text: str) -> None:
        _emit(self.output, text, {"step": "ha"})

    def running(self, total_actions: int) -> AbstractContextManager[EventSink | None]:
        from provision.apply.progress import ActionLines, JsonLines, LivePanel, PhaseLines

        if self.output is Output.json:
            return JsonLines()
        if self.quiet:
            return PhaseLines()
        if sys.stderr.isatty():
            return LivePanel(total_actions=total_actions)
        return ActionLines(total_actions=total_actions)


def _label(document: Mapping[str, Any]) -> Any:
    by_id = {a["id"]: a for a in document.get("actions", [])}

    def label(aid: str) -> str:
        a = by_id.get(aid, {})
        return f"{a.get('kind', '?')} {a.get('address', aid)}"

    return label


def _report_failure(outcome: ApplyOutcome, output: Output) -> None:
    result = outcome.result
    assert result is not None
    label = _label(outcome.document)
    lines = ["Apply interrupted; Ansible was stopped." if outcome.interrupted else
             "Apply failed; stopped at the first failed phase."]
    lines += [f"  error: {msg}" for msg in result.failure_messages]
    lines.append(f"Done ({len(result.done)}):")
    lines += [f"  ✓ {label(a)}" for a in result.done] or ["  (nothing)"]
    lines.append(f"Failed ({len(result.failed)}):")
    lines += [f"  ✗ {label(a)}" for a in result.failed] or ["  (none: the run stopped before an action)"]
    if result.partial:
        lines.append(f"Stopped part-way, may be partly in place ({len(result.partial)}):")
        lines += [f"  ~ {label(a)}: {result.progress.get(a, '')}" for a in result.partial]
    lines.append(f"Not done, nothing of them changed ({len(result.not_done)}):")
    lines += [f"  · {label(a)}" for a in result.not_done] or ["  (nothing)"]
    lines.append(f"Record: {outcome.run_dir}")
    _emit(output, "\n".join(lines), {
        "status": outcome.status, "done": result.done, "failed": result.failed, "partial": result.partial,
        "progress": result.progress, "not_done": result.not_done, "errors": result.failure_messages,
        "interrupted": outcome.interrupted, "run_dir": str(outcome.run_dir)})


def _report(outcome: ApplyOutcome, output: Output) -> int:
    """Print the outcome; the exit code."""
    if outcome.status == "no_changes":
        _emit(output, "No changes.", {"status": "no_changes"})
        return 0
    result = outcome.result
    assert result is not None
    if outcome.status == "secret_leak":
        _emit(output, f"error: {outcome.leak}; delete {outcome.run_dir} now", {"status": "secret_leak"})
        return 1
    if outcome.status in ("failed", "interrupted"):
        _report_failure(outcome, output)
        return 1
    tally = result.tally
    stats: dict[str, Any] = {"wall_seconds": round(result.wall_seconds, 2), "tasks": tally.tasks,
                             "changed": tally.changed, "run_dir": str(outcome.run_dir)}
    if outcome.ha is not None:
        stats["ha_disarm"] = outcome.ha.to_json()
    if outcome.status == "checked":
        _emit(output, f"Check mode: {tally.tasks} task(s) ran, {tally.changed} would change "
                      f"({result.wall_seconds:.1f}s). Record: {outcome.run_dir}", {"status": "checked", **stats})
        return 0
    scope, outside, verified = _verified(outcome)
    stats.update(verified)
    if outcome.status == "not_converged":
        from provision.apply.verify import describe

        lines = ["error: the cluster did not converge; still different after apply"
                 + (f" (verified {scope})" if scope else "") + ":", *describe(outcome.remaining)]
        if outside:
            lines.append(outside.strip())
        _emit(output, "\n".join(lines), {"status": "not_converged", **stats})
        return 1
    _emit(output, f"Apply complete: {len(result.done)} action(s), {tally.tasks} task(s), {tally.changed} "
                  f"changed, in {result.wall_seconds:.1f}s. Record: {outcome.run_dir}"
                  + (f"\nVerified {scope}: converged.{outside}" if scope else ""), {"status": "applied", **stats})
    return 0


def _verified(outcome: ApplyOutcome) -> tuple[str, str, dict[str, Any]]:
    """What the re-discovery compared, for a targeted plan: the scope in words, a sentence
    on what lies outside it, and the JSON fields."""
    v = outcome.verified
    if v is None or not v.scope:
        return "", "", {}
    targets = ", ".join((outcome.document.get("options") or {}).get("targets") or [])
    outside = (f" {v.outside} difference(s) outside the target(s) left alone as planned "
               "(`provision plan` without --target lists them)." if v.outside else "")
    return (f"only what the plan targeted ({targets}) and what it needs", outside,
            {"verified_scope": v.scope, "outside_scope": v.outside})


@errors
def apply_cmd(
    target: Path = typer.Argument(..., help="Stack file (YAML) or plan file from `provision plan --out`."),
    lab: str | None = typer.Option(None, "--lab", help="Use this local lab instead of the stack's connection."),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation (CI)."),
    allow_destroy: bool = typer.Option(False, "--allow-destroy", help="Permit destructive actions."),
    check: bool = typer.Option(False, "--check", help="Run Ansible in check mode: report, change nothing."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="Print only one line per phase and the final summary (no plan, no live display)."),
    output: Output = typer.Option(Output.text, "--format", "-f",
                                  help="text, or json (one JSON line per event, with its time and action id)."),
    old_output: Output | None = typer.Option(None, "--output", "-o", hidden=True,
                                             help="Old spelling of --format (warns)."),
    force_unlock_id: str | None = typer.Option(None, "--force-unlock", metavar="ID",
                                               help="Release the cluster lock with this id and exit."),
    prune: list[str] | None = typer.Option(None, "--prune", metavar="[KIND|ADDRESS]", help=PRUNE_HELP),
    insecure: bool = typer.Option(False, "--insecure", help="Do not verify the API's TLS certificate."),
    state_dir: Path | None = typer.Option(None, "--state-dir", metavar="DIR",
                                          help="Run records and the local lock (default: $PROVISION_HOME)."),
    network_confirm: int = typer.Option(
        NETWORK_CONFIRM_SECONDS, "--network-confirm", min=4, max=3600, metavar="SECONDS",
        help="Commit-confirm window of a network reload: the node reverts its previous interfaces file "
             "this long after the reload unless pve-provision confirmed it reachable and in the cluster."),
    disarm_ha: HaMode | None = typer.Option(
        None, "--disarm-ha", metavar="freeze|ignore",
        help="PVE 9: disarm HA cluster-wide (no fencing, no recovery) before the first change and arm it again "
             "after the last, on every way out. freeze pins every service where it is; ignore takes them out of "
             "HA's hands (ha-manager crm-command disarm-ha)."),
) -> None:
    """Apply a stack or a stored plan to the cluster through generated Ansible playbooks."""
    from provision.apply import ApplyOptions, apply, force_unlock

    if old_output is not None:
        typer.echo("warning: `--output`/`-o` of apply is now `--format`/`-f`, as in plan, show and drift "
                   "(`-o` names an output file there)", err=True)
        output = old_output
    if quiet and output is Output.json:
        raise fail("error: --quiet and --format json cannot be combined (json already prints only events)")
    options = ApplyOptions(lab=lab, auto_approve=auto_approve, allow_destroy=allow_destroy, check=check,
                           prune=prune_scope(prune), insecure=insecure, state_dir=state_dir,
                           network_confirm_seconds=network_confirm,
                           disarm_ha=disarm_ha.value if disarm_ha is not None else None)
    reporter = CliReporter(output, quiet, auto_approve)
    try:
        if force_unlock_id is not None:
            released = force_unlock(target, force_unlock_id, options, reporter)
            who = f" (held by {released.holder} since {released.since})" if released else ""
            _emit(output, f"Released lock {force_unlock_id}{who}.", {"status": "unlocked"})
            return
        outcome = apply(target, options, reporter)
    except KeyboardInterrupt:  # before the workflow took over the signals
        raise fail("error: interrupted (Ctrl-C); nothing was changed") from None
    code = _report(outcome, output)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("apply")(apply_cmd)


__all__ = ["CliReporter", "apply_cmd", "register"]
