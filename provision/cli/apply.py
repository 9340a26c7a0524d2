"""`provision apply STACK|PLANFILE`: make the cluster match the stack.

With a STACK: discover, plan, show the plan, ask, apply. With a PLANFILE (from
`provision plan --out`): re-discover first and refuse when reality moved since the
plan was made ("plan is stale") or when it is another cluster. Then, in both cases:
refuse destructive actions without --allow-destroy (before anything runs), take the
cluster lock, render playbooks into `.provision/runs/<stamp>-<plan id>/`, run them with
ansible-runner, stop at the first failed phase, and verify convergence by discovering
again. Exit 0 on success or no changes, 1 on any failure or refusal. Output: text with a
live panel, `--quiet` (one line per phase and the summary) or `--output json` (events).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from provision.apply import record, runner
from provision.apply.lock import ApplyLock, LockError, ProxmoxerPools
from provision.apply.progress import JsonLines, LivePanel, PhaseLines
from provision.apply.render import NETWORK_CONFIRM_SECONDS, Inventory, RenderError, RunDir, render_run
from provision.apply.verify import describe, verify
from provision.cli.plan import Format as PlanFormat
from provision.cli.plan import _errors, _fail, _render, _warn_insecure, _workers
from provision.discover import ApiClient, Endpoint, ProxmoxerTransport, discover, from_connection
from provision.discover.endpoint import lab_connection_file
from provision.plan import make_plan, spec_digest
from provision.plan import planfile as planfiles
from provision.spec import Cluster, Connection, SecretRef, SecretUnavailableError, load_stack


class Output(StrEnum):
    text = "text"
    json = "json"


STATE_DIR = Path(".provision")


def _is_planfile(path: Path) -> bool:
    """Whether TARGET is meant as a plan file. A `.json` file, or one that looks like a
    plan document, is one even when it is broken, so that the plan loader names the
    problem instead of the stack loader reporting YAML errors for it."""
    if path.suffix.lower() == ".json":
        return True
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return text.lstrip().startswith("{") and '"format_version"' in text
    return isinstance(data, dict) and "format_version" in data


def plan_id_of(document: Mapping[str, Any]) -> str:
    """A short stable id for a plan document (the document has no id of its own)."""
    if document.get("id"):
        return str(document["id"])
    blob = json.dumps(
        {"actions": document.get("actions"), "observed": document.get("observed_fingerprint"),
         "spec": document.get("spec_digest"), "at": document.get("created_at")},
        sort_keys=True,
    )
    return "plan-" + hashlib.sha256(blob.encode()).hexdigest()[:10]


def _lab_name(desired: Cluster, lab: str | None) -> str | None:
    if lab:
        return lab
    return desired.connection.lab if desired.connection is not None else None


def _inventory(desired: Cluster, lab_name: str | None) -> Inventory:
    if lab_name is None:
        return Inventory.from_nodes(desired.nodes)
    info = json.loads(lab_connection_file(lab_name).read_text(encoding="utf-8"))
    return Inventory.from_lab(Path(info["inventory"]), desired.node_names)


def _stale_reason(document: Mapping[str, Any], identity: Mapping[str, Any], fingerprint: str) -> str | None:
    """Why a stored plan may not be applied to what discovery just saw, if it may not."""
    planned = document.get("cluster") or {}
    for key in ("name", "ceph_fsid"):
        if planned.get(key) and identity.get(key) and planned.get(key) != identity.get(key):
            return (f"the plan was made for cluster {planned.get('name')!r} ({key} {planned.get(key)}), "
                    f"but this is {identity.get('name')!r} ({key} {identity.get(key)})")
    if planned.get("nodes") and identity.get("nodes") and set(planned["nodes"]).isdisjoint(identity["nodes"]):
        return f"the plan was made for nodes {planned['nodes']}, but this cluster has {identity['nodes']}"
    if document.get("observed_fingerprint") != fingerprint:
        return "plan is stale: the cluster changed since the plan was made; make a new plan"
    return None


def _confirm(count: int, auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise _fail("error: refusing to apply without confirmation: no terminal to ask on; "
                    "review the plan and pass --auto-approve")
    answer = typer.prompt(f"Apply {count} action(s) to the cluster? Only 'yes' is accepted", default="")
    if answer.strip() != "yes":
        raise _fail("Apply cancelled.")


def _resolve_secrets(run_dir: RunDir) -> tuple[dict[str, str], tuple[str, ...]]:
    """Read every secret the run needs, before anything runs; a missing one stops the
    apply with the object and field that need it (all of them at once)."""
    users: dict[str, list[str]] = {}
    for ra in run_dir.actions:
        for field in _secret_fields(ra.action.params):
            users.setdefault(field[1], []).append(f"{ra.action.address} {field[0]}")
    values: dict[str, str] = {}
    env_names: list[str] = []
    missing: list[str] = []
    for var, desc in run_dir.secret_refs.items():
        kind, _, where = desc.partition(":")
        ref = SecretRef(env=where) if kind == "env" else SecretRef(file=Path(where))
        try:
            values[var] = ref.resolve()
        except SecretUnavailableError as exc:
            where_used = ", ".join(users.get(desc, [])) or var
            missing.append(f"  - {where_used}: {exc}")
        if kind == "env":
            env_names.append(where)
    if missing:
        raise _fail("error: secrets needed by this plan cannot be read (nothing was changed):\n"
                    + "\n".join(missing))
    return values, tuple(sorted(set(env_names)))


def _secret_fields(params: Any) -> list[tuple[str, str]]:
    """(field, reference) of every secret among an action's parameters."""
    from provision.actions.values import SecretParam

    out: list[tuple[str, str]] = []
    for name in type(params).model_fields:
        value = getattr(params, name)
        if isinstance(value, SecretParam):
            out.append((name, value.secret))
        elif isinstance(value, dict):
            out += [(k, v.secret) for k, v in value.items() if isinstance(v, SecretParam)]
    return out


def _emit(output: Output, text: str, data: dict[str, Any] | None = None) -> None:
    if output is Output.json:
        typer.echo(json.dumps({"event": "apply", **(data or {}), "message": text}, sort_keys=True))
    else:
        typer.echo(text)


def _report_failure(document: Mapping[str, Any], result: runner.RunResult, output: Output) -> None:
    by_id = {a["id"]: a for a in document.get("actions", [])}

    def label(aid: str) -> str:
        a = by_id.get(aid, {})
        return f"{a.get('kind', '?')} {a.get('address', aid)}"

    lines = ["Apply failed; stopped at the first failed phase."]
    for msg in result.failure_messages:
        lines.append(f"  error: {msg}")
    lines.append(f"Done ({len(result.done)}):")
    lines += [f"  ✓ {label(a)}" for a in result.done] or ["  (nothing)"]
    lines.append(f"Failed ({len(result.failed)}):")
    lines += [f"  ✗ {label(a)}" for a in result.failed] or ["  (none: the run stopped before an action)"]
    lines.append(f"Not done ({len(result.not_done)}):")
    lines += [f"  · {label(a)}" for a in result.not_done] or ["  (nothing)"]
    _emit(output, "\n".join(lines), {"status": "failed", "done": result.done, "failed": result.failed,
                                     "not_done": result.not_done, "errors": result.failure_messages})


def _lock_for(endpoint: Endpoint, desired: Cluster) -> ApplyLock:
    transport = ProxmoxerTransport(endpoint)
    return ApplyLock(ProxmoxerPools(transport.api), desired.name, STATE_DIR)


def _interruptible(fn: Callable[..., None]) -> Callable[..., None]:
    """Ctrl-C outside the Ansible run (discovery, prompt, verify) ends with one line, not a
    traceback; `finally` blocks have already released the lock by then."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except KeyboardInterrupt:
            raise _fail("error: interrupted (Ctrl-C); the cluster lock, if taken, was released") from None

    return wrapper


@_errors
@_interruptible
def apply_cmd(
    target: Path = typer.Argument(..., help="Stack file (YAML) or plan file from `provision plan --out`."),
    lab: str | None = typer.Option(None, "--lab", help="Use this local lab instead of the stack's connection."),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation (CI)."),
    allow_destroy: bool = typer.Option(False, "--allow-destroy", help="Permit destructive actions."),
    check: bool = typer.Option(False, "--check", help="Run Ansible in check mode: report, change nothing."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="Print only one line per phase and the final summary (no plan, no live display)."),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text, or json (one JSON line per event)."),
    force_unlock: str | None = typer.Option(None, "--force-unlock", metavar="ID",
                                            help="Release the cluster lock with this id and exit."),
    prune: bool = typer.Option(False, "--prune", help="Also delete objects that are not in the stack."),
    insecure: bool = typer.Option(False, "--insecure", help="Do not verify the API's TLS certificate."),
    network_confirm: int = typer.Option(
        NETWORK_CONFIRM_SECONDS, "--network-confirm", min=4, max=3600, metavar="SECONDS",
        help="Commit-confirm window of a network reload: the node reverts its previous interfaces file "
             "this long after the reload unless pve-provision confirmed it reachable and in the cluster."),
) -> None:
    """Apply a stack or a stored plan to the cluster through generated Ansible playbooks."""
    if quiet and output is Output.json:
        raise _fail("error: --quiet and --output json cannot be combined (json already prints only events)")
    if not target.is_file():
        raise _fail(f"error: {target}: no such file (expected a stack file or a plan file from "
                    "`provision plan --out`)")
    planfile = _is_planfile(target)
    document: dict[str, Any] | None = planfiles.load(target) if planfile else None
    stack_path = target
    if document is not None:
        if not document.get("stack"):
            raise _fail(f"error: {target}: the plan file does not name its stack file")
        stack_path = Path(str(document["stack"]))
        if not stack_path.is_absolute() and not stack_path.exists():
            stack_path = target.parent / stack_path  # relative to where the plan file lives
    loaded = load_stack(stack_path)
    desired = loaded.cluster
    if desired.connection is None and lab is None:
        raise _fail(f"error: {stack_path}: the stack has no `connection` (or pass --lab NAME)")
    endpoint = from_connection(desired.connection or Connection(lab=lab), lab_override=lab, insecure=insecure)
    _warn_insecure(endpoint)

    if force_unlock is not None:
        released = _lock_for(endpoint, desired).force_unlock(force_unlock)
        who = f" (held by {released.holder} since {released.since})" if released else ""
        _emit(output, f"Released lock {force_unlock}{who}.", {"status": "unlocked"})
        return

    client = ApiClient.for_endpoint(endpoint)
    found = discover(client, hint_nodes=desired.node_names, workers=_workers())
    if document is not None:
        if document.get("spec_digest") != spec_digest(desired):
            raise _fail(f"error: plan is stale: {stack_path} changed since the plan was made; make a new plan")
        reason = _stale_reason(document, found.observed.identity(), found.observed.fingerprint)
        if reason is not None:
            raise _fail(f"error: {reason}")
        prune = bool((document.get("options") or {}).get("prune", prune))
        if output is Output.text and not auto_approve and document.get("actions"):
            typer.echo(_render(document, PlanFormat.text), nl=False)  # what the prompt asks about
    else:
        plan = make_plan(desired, found.cluster, found.observed, stack=str(stack_path), prune=prune)
        document = plan.to_document()
        if output is Output.text and not (quiet and auto_approve):
            typer.echo(_render(document, PlanFormat.text), nl=False)  # what the prompt asks about

    actions = list(document.get("actions", []))
    if not actions:
        _emit(output, "No changes.", {"status": "no_changes"})
        return
    destructive = [a for a in actions if a.get("destructive")]
    if destructive and not allow_destroy:
        listing = "\n".join(f"  - {a['kind']} {a['address']}" for a in destructive)
        raise _fail(f"error: the plan has {len(destructive)} destructive action(s); refusing without "
                    f"--allow-destroy:\n{listing}")
    _confirm(len(actions), auto_approve)

    document = {**document, "id": plan_id_of(document), "pve_version": found.observed.pve_version
                or desired.pve_version}
    code = _execute(document, desired, endpoint, client, _lab_name(desired, lab), check, output, prune,
                    physical_nics(found.cluster), quiet, network_confirm)
    if code:
        raise typer.Exit(code)


def physical_nics(observed: Cluster) -> dict[str, list[str]]:
    """Node → the physical NICs discovery saw there (PVE lists them even when unconfigured)."""
    return {node.name: [i.name for i in node.interfaces if i.type == "nic"] for node in observed.nodes}


def _execute(document: dict[str, Any], desired: Cluster, endpoint: Endpoint, client: ApiClient,
             lab_name: str | None, check: bool, output: Output, prune: bool,
             nics: Mapping[str, list[str]], quiet: bool = False,
             network_confirm: int = NETWORK_CONFIRM_SECONDS) -> int:
    inventory = _inventory(desired, lab_name)
    runs_root = STATE_DIR / "runs"
    runs_root.mkdir(parents=True, exist_ok=True)
    try:
        run_dir = render_run(document, runs_root=runs_root, inventory=inventory, physical_nics=nics,
                             network_confirm_seconds=network_confirm)
    except RenderError as exc:
        raise _fail(f"error: cannot render the playbooks: {exc}") from None
    try:
        secrets, env_names = _resolve_secrets(run_dir)
    except BaseException:
        shutil.rmtree(run_dir.root, ignore_errors=True)  # nothing ran: no record of a run
        raise

    def body() -> int:
        events = record.EventLog(run_dir.root / "events.jsonl")
        view: Any
        if output is Output.json:
            view = JsonLines()
        elif quiet:
            view = PhaseLines()
        elif sys.stderr.isatty():
            view = LivePanel(total_actions=len(run_dir.actions))
        else:
            view = None
        # Ctrl-C cancels the run through ansible-runner (which stops ansible-playbook: it
        # runs on its own pty, so the terminal's SIGINT never reaches it), then the
        # failure report lists what was done and the lock is released.
        interrupted = threading.Event()
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set()) if main else None
        try:
            with view if view is not None else contextlib.nullcontext():
                result = runner.run(run_dir, secrets=secrets, blank_env=env_names, check=check,
                                    on_event=_fan_out([events] if view is None else [events, view]),
                                    cancel=interrupted.is_set)
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
            events.close()
        if interrupted.is_set():
            result.failure_messages.insert(0, "interrupted (Ctrl-C): ansible-playbook was stopped")
        record.write_summary(run_dir.root, result, {"plan_id": run_dir.plan_id, "check": check})
        try:
            record.assert_no_secrets(run_dir.root, secrets.values())
        except record.SecretLeakError as exc:
            _emit(output, f"error: {exc}; delete {run_dir.root} now", {"status": "secret_leak"})
            return 1
        tally = result.tally
        stats = {"wall_seconds": round(result.wall_seconds, 2), "tasks": tally.tasks, "changed": tally.changed,
                 "run_dir": str(run_dir.root)}
        if not result.ok or interrupted.is_set():
            _report_failure(document, result, output)
            return 1
        if check:
            _emit(output, f"Check mode: {tally.tasks} task(s) ran, {tally.changed} would change "
                          f"({result.wall_seconds:.1f}s). Record: {run_dir.root}", {"status": "checked", **stats})
            return 0
        verification = verify(desired, client, prune=prune)
        if not verification.converged:
            lines = ["error: the cluster did not converge; still different after apply:",
                     *describe(verification.remaining)]
            _emit(output, "\n".join(lines), {"status": "not_converged", **stats})
            return 1
        _emit(output, f"Apply complete: {len(result.done)} action(s), {tally.tasks} task(s), {tally.changed} "
                      f"changed, in {result.wall_seconds:.1f}s. Record: {run_dir.root}", {"status": "applied", **stats})
        return 0

    if check:
        return body()
    lock = _lock_for(endpoint, desired)
    try:
        info = lock.acquire(run_dir.plan_id)
    except LockError as exc:
        shutil.rmtree(run_dir.root, ignore_errors=True)  # nothing ran: no record of a run
        raise _fail(f"error: {exc}") from None
    if output is Output.text and not quiet:
        typer.echo(f"Lock {info.id} taken on cluster {desired.name!r}.", err=True)
    try:
        return body()
    finally:
        try:
            lock.release()
        except Exception as exc:  # never hide the run's own outcome behind a release failure
            typer.echo(f"warning: could not release the cluster lock {info.id}: {exc}; release it with "
                       f"`provision apply ... --force-unlock {info.id}`", err=True)


def _fan_out(handlers: list[Callable[[dict[str, Any]], None]]) -> Callable[[dict[str, Any]], None]:
    def call(event: dict[str, Any]) -> None:
        for handler in handlers:
            handler(event)

    return call


def register(app: typer.Typer) -> None:
    app.command("apply")(apply_cmd)


__all__ = ["apply_cmd", "physical_nics", "plan_id_of", "register"]
