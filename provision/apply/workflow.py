"""The apply workflow as one function: `apply(target, options, reporter)`.

read (a stack: discover and plan; a plan file: discover again and refuse when it is
stale or for another cluster) → nothing to do? → destroy guard → confirm → render the
run directory → read the secrets → take the locks → run Ansible → write the run record
→ verify convergence → release the locks.

Front ends (the CLI, a CI job in Python) only choose options and show things: the
`Reporter` is told what happens and answers the confirmation; the outcome comes back
as a value. Refusals raise `ApplyError`.

State (run records, the local lock) lives under the state directory,
`$PROVISION_HOME` unless `ApplyOptions.state_dir` says otherwise, keyed by cluster name
(`runs/<cluster>/`, `locks/<cluster>.lock`), never in the current directory: an
installed `provision` is run from anywhere, and two checkouts of one stack must still
see each other's local lock and find their cluster's run records in one place.

Signals: from the first line to the last, SIGINT, SIGTERM and SIGHUP stop the apply
the same way (signals.py): Ansible is cancelled, the run record says what was done,
both locks are released (with retries), and the secrets' temporary files are gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shlex
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision.apply import disarm, record, runner
from provision.apply import secrets as secret_values
from provision.apply.actionfeed import ActionFeed
from provision.apply.crmcommand import crm_command
from provision.apply.errors import ApplyError
from provision.apply.lock import ApplyLock, LockError, LockInfo, LockReleaseError, ProxmoxerPools, cluster_key
from provision.apply.render import Inventory, RenderError, RunDir, render_run
from provision.apply.reporter import NETWORK_CONFIRM_SECONDS, Event, EventSink, Reporter
from provision.apply.signals import Interrupted, StopSignals
from provision.apply.verify import Verification, plan_scope, verify
from provision.discover import Endpoint, ProxmoxerTransport
from provision.discover.endpoint import lab_connection_file, provision_home
from provision.discover.ha_status import PATH as HA_STATUS_PATH
from provision.discover.ha_status import disarm_of
from provision.plan import Change, Live, PlanError, read_live, spec_digest
from provision.plan import planfile as planfiles
from provision.plan.prune import Prune
from provision.plan.replan import plan_file_mismatch, what_moved
from provision.plan.workflow import connect, plan_of
from provision.spec import Address, Cluster, Connection, load_stack


@dataclass(frozen=True)
class ApplyOptions:
    lab: str | None = None  # use this local lab instead of the stack's connection
    auto_approve: bool = False
    allow_destroy: bool = False
    check: bool = False  # Ansible check mode: no lock, no verify
    prune: bool | Prune = False  # True: every unmanaged object; a Prune: only those it covers
    insecure: bool = False
    state_dir: Path | None = None  # default: $PROVISION_HOME
    network_confirm_seconds: int = NETWORK_CONFIRM_SECONDS  # commit-confirm window of a network reload
    disarm_ha: str | None = None  # freeze|ignore: HA disarmed from the first change to the last (disarm.py)


def state_dir(options: ApplyOptions) -> Path:
    return options.state_dir if options.state_dir is not None else provision_home()


@dataclass
class ApplyOutcome:
    """What an apply did. `status`: no_changes, applied, checked, failed, interrupted,
    not_converged or secret_leak."""

    status: str
    document: dict[str, Any]
    result: runner.RunResult | None = None
    run_dir: Path | None = None
    remaining: list[Change] = field(default_factory=list)
    interrupted: str | None = None  # the signal that stopped the run ("Ctrl-C", "SIGTERM", ...)
    leak: str | None = None
    verified: Verification | None = None  # what the re-discovery after the run compared
    ha: disarm.HaWindow | None = None  # the --disarm-ha window, when there was one

    @property
    def ok(self) -> bool:
        return self.status in ("no_changes", "applied", "checked")


def is_planfile(path: Path) -> bool:
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


def physical_nics(observed: Cluster) -> dict[str, list[str]]:
    """Node → the physical NICs discovery saw there (PVE lists them even when unconfigured)."""
    return {node.name: [i.name for i in node.interfaces if i.type == "nic"] for node in observed.nodes}


STALE = "plan is stale: the cluster changed since the plan was made"


def stale_reason(document: Mapping[str, Any], identity: Mapping[str, Any], fingerprint: str) -> str | None:
    """Why a stored plan may not be applied to what discovery just saw, if it may not."""
    planned = document.get("cluster") or {}
    for key in ("name", "ceph_fsid"):
        if planned.get(key) and identity.get(key) and planned.get(key) != identity.get(key):
            return (f"the plan was made for cluster {planned.get('name')!r} ({key} {planned.get(key)}), "
                    f"but this is {identity.get('name')!r} ({key} {identity.get(key)})")
    if planned.get("nodes") and identity.get("nodes") and set(planned["nodes"]).isdisjoint(identity["nodes"]):
        return f"the plan was made for nodes {planned['nodes']}, but this cluster has {identity['nodes']}"
    if document.get("observed_fingerprint") != fingerprint:
        return STALE
    return None


@dataclass
class _Target:
    """TARGET resolved: the stack to load and, for a plan file, the stored plan."""

    stack: Path
    document: dict[str, Any] | None


def _target(target: Path) -> _Target:
    if not target.is_file():
        raise ApplyError(f"{target}: no such file (expected a stack file or a plan file from `provision plan --out`)")
    if not is_planfile(target):
        return _Target(stack=target, document=None)
    document = planfiles.load(target)
    if not document.get("stack"):
        raise ApplyError(f"{target}: the plan file does not name its stack file")
    stack = Path(str(document["stack"]))
    if not stack.is_absolute() and not stack.exists():
        stack = target.parent / stack  # relative to where the plan file lives
    return _Target(stack=stack, document=document)


def _connection(options: ApplyOptions) -> Connection | None:
    return Connection(lab=options.lab) if options.lab else None


def unlock_command(target: Path) -> str:
    """The command that releases a lock of this target, without `--force-unlock ID`."""
    return f"provision apply {shlex.quote(str(target))}"


def _lock_at(endpoint: Endpoint, desired: Cluster, target: Path, options: ApplyOptions) -> ApplyLock:
    pools = ProxmoxerPools(ProxmoxerTransport(endpoint).api)
    return ApplyLock(pools, desired.name, state_dir(options), unlock=unlock_command(target))


def force_unlock(target: Path, lock_id: str, options: ApplyOptions = ApplyOptions(),
                 reporter: Reporter | None = None) -> LockInfo | None:
    """Release the lock with this id (both the cluster's and the local one)."""
    reporter = reporter or Reporter()
    resolved = _target(target)
    desired = load_stack(resolved.stack).cluster
    endpoint = connect(desired, resolved.stack, _connection(options), insecure=options.insecure)
    reporter.endpoint(endpoint)
    try:
        return _lock_at(endpoint, desired, target, options).force_unlock(lock_id)
    except LockError as exc:
        raise ApplyError(str(exc)) from None


def apply(target: Path, options: ApplyOptions = ApplyOptions(), reporter: Reporter | None = None) -> ApplyOutcome:
    """Make the cluster match a stack (or apply a stored plan); see the module docstring.

    Raises ApplyError for every refusal, and for an interruption before Ansible ran;
    returns the outcome otherwise (also for a failed or interrupted run)."""
    reporter = reporter or Reporter()
    with StopSignals() as stop:
        try:
            return _apply(target, options, reporter, stop)
        except Interrupted as exc:
            raise ApplyError(f"interrupted ({exc.name}); the cluster lock, if taken, was released") from None


def _fresh(document: Mapping[str, Any], live: Live, prune: Prune) -> dict[str, Any]:
    """The plan this stack and cluster give now, with the stored plan's options."""
    options = document.get("options") or {}
    try:
        targets = [Address.parse(str(t)) for t in options.get("targets") or []]
        return plan_of(live, prune=prune, targets=targets).to_document()
    except (ValueError, PlanError) as exc:
        raise ApplyError(f"the plan file cannot be checked against a fresh plan: {exc}") from None


def _check_against_replan(document: Mapping[str, Any], live: Live, prune: Prune) -> None:
    """Trust nothing in a plan file that can be recomputed: with the same stack (digest
    checked) and cluster state (fingerprint checked), the stored actions must be the
    ones the planner gives now, or the file was edited and re-sealed (`plan.replan`)."""
    fresh = _fresh(document, live, prune)
    mismatch = plan_file_mismatch(document, fresh)
    if mismatch is not None:
        raise ApplyError(f"refusing the plan file: {mismatch}; make a new plan")


def _apply(target: Path, options: ApplyOptions, reporter: Reporter, stop: StopSignals) -> ApplyOutcome:
    resolved = _target(target)
    if options.disarm_ha is not None:
        _refuse_disarm_before_discovery(resolved.stack, options)
    live = read_live(resolved.stack, _connection(options), insecure=options.insecure, on_endpoint=reporter.endpoint)
    desired, found = live.desired, live.found
    prune = Prune.of(options.prune)
    document = resolved.document
    if document is not None:
        if document.get("spec_digest") != spec_digest(desired):
            raise ApplyError(f"plan is stale: {resolved.stack} changed since the plan was made; make a new plan")
        try:
            prune = Prune.from_options(document.get("options") or {}) if document.get("options") else prune
        except ValueError as exc:
            raise ApplyError(f"{target}: options.prune_scope: {exc}") from None
        reason = stale_reason(document, found.observed.identity(), found.observed.fingerprint)
        if reason is not None:
            if reason == STALE:
                reason = f"{STALE}: {what_moved(document, _fresh(document, live, prune))}; make a new plan"
            raise ApplyError(reason)
        _check_against_replan(document, live, prune)
    else:
        document = plan_of(live, prune=prune).to_document()
    if options.disarm_ha is not None:
        _refuse_disarm(live)
    reporter.plan(document, from_file=resolved.document is not None)

    actions = list(document.get("actions", []))
    if not actions:
        if options.disarm_ha is not None:
            raise ApplyError("nothing to do: the plan is empty, so HA was not disarmed (No changes.)")
        return ApplyOutcome(status="no_changes", document=document)
    destructive = [a for a in actions if a.get("destructive")]
    if destructive and not options.allow_destroy:
        listing = "\n".join(f"  - {a['kind']} {a['address']}" for a in destructive)
        raise ApplyError(f"the plan has {len(destructive)} destructive action(s); refusing without "
                         f"--allow-destroy:\n{listing}")
    if not options.auto_approve and not reporter.confirm(len(actions)):
        raise ApplyError("the apply was not confirmed; nothing was changed")

    document = {**document, "id": plan_id_of(document),
                "pve_version": found.observed.pve_version or desired.pve_version}
    run_dir = _render(document, live, options)
    with _removed_unless_run(run_dir) as ran:
        values = secret_values.resolve(run_dir)
        if options.check:
            ran()
            return _run(document, run_dir, values, live, options, reporter, stop, prune)
        lock = _lock_at(live.endpoint, desired, target, options)
        try:
            with stop.deferred():
                try:
                    info = lock.acquire(run_dir.plan_id)
                except LockError as exc:
                    raise ApplyError(str(exc)) from None
            reporter.lock_taken(info, desired.name)
            with _disarm_window(document, live, options, reporter, stop) as window:
                ran()
                outcome = _run(document, run_dir, values, live, options, reporter, stop, prune)
            return _with_window(outcome, window, run_dir)
        finally:
            with stop.deferred(then_raise=False):  # the outcome is known by now
                try:
                    lock.release()
                except LockReleaseError as exc:  # never hide the run's own outcome behind it
                    reporter.warning(str(exc))


def _refuse_disarm_before_discovery(stack: Path, options: ApplyOptions) -> None:
    """`--disarm-ha` not with `--check`, and only for a PVE 9 stack: known before any request."""
    if options.check:
        raise ApplyError("--disarm-ha with --check: check mode changes nothing, so there is no change to "
                         "disarm HA for; drop one of them")
    loaded = load_stack(stack)
    line, col = loaded.position(("pve_version",))
    reason = disarm.refusal(loaded.cluster.pve_version, f"{stack}:{line}:{col}", None, None)
    if reason is not None:
        raise ApplyError(reason)


def _refuse_disarm(live: Live) -> None:
    """`--disarm-ha` only on a PVE 9 cluster, never over someone else's disarm."""
    current = None
    if (live.found.observed.pve_version or 9) >= 9:
        current = disarm_of(live.client.get(HA_STATUS_PATH, optional=True))
    reason = disarm.refusal(live.desired.pve_version, str(live.stack), live.found.observed.pve_version, current)
    if reason is not None:
        raise ApplyError(reason)


def _disarm_window(document: dict[str, Any], live: Live, options: ApplyOptions, reporter: Reporter,
                   stop: StopSignals) -> AbstractContextManager[disarm.HaWindow | None]:
    """HA disarmed around the run (`--disarm-ha`), else nothing. The CRM commands run on
    the first stack node discovery saw online, over the run's own inventory."""
    if options.disarm_ha is None:
        return contextlib.nullcontext(None)
    online = [n for n in live.desired.node_names
              if (m := live.found.observed.members.get(n)) is not None and m.online]
    if not online:
        raise ApplyError("--disarm-ha: no node of the stack is online to run `ha-manager crm-command disarm-ha` on")
    lab = options.lab or (live.desired.connection.lab if live.desired.connection is not None else None)
    inventory = _inventory(document, live, lab)
    return disarm.disarmed(options.disarm_ha, online[0], lambda words: crm_command(inventory, online[0], words),
                           live.client.get, stop, reporter.step)


def _with_window(outcome: ApplyOutcome, window: disarm.HaWindow | None, run_dir: RunDir) -> ApplyOutcome:
    """The disarm window into the run record and the outcome; HA left disarmed fails the apply."""
    if window is None:
        return outcome
    outcome.ha = window
    disarm.write_record(run_dir.root, window)
    if window.problem is not None:
        if outcome.result is not None:
            outcome.result.failure_messages.append(window.problem)
        if outcome.status in ("applied", "not_converged"):
            outcome.status = "failed"
    return outcome


@contextlib.contextmanager
def _removed_unless_run(run_dir: RunDir) -> Iterator[Callable[[], None]]:
    """Remove the run directory when the apply stops before Ansible started (a secret
    cannot be read, the lock is held): nothing ran, so there is no run to record."""
    started = False

    def mark() -> None:
        nonlocal started
        started = True

    try:
        yield mark
    finally:
        if not started:
            shutil.rmtree(run_dir.root, ignore_errors=True)


def _render(document: dict[str, Any], live: Live, options: ApplyOptions) -> RunDir:
    runs_root = state_dir(options) / "runs" / cluster_key(live.desired.name)
    runs_root.mkdir(parents=True, exist_ok=True)
    lab = options.lab or (live.desired.connection.lab if live.desired.connection is not None else None)
    try:
        return render_run(document, runs_root=runs_root, inventory=_inventory(document, live, lab),
                          physical_nics=physical_nics(live.found.cluster),
                          network_confirm_seconds=options.network_confirm_seconds)
    except RenderError as exc:
        raise ApplyError(f"cannot render the playbooks: {exc}") from None


def _inventory(document: dict[str, Any], live: Live, lab_name: str | None) -> Inventory:
    """The stack's nodes, plus the nodes a plan removes that its actions still run on
    (a departing node's OSDs and MON are destroyed on it before `pvecm delnode`): those
    are in the plan and in discovery, no longer in the stack. Such a node is reached at
    its discovered address with the default SSH settings."""
    stack_nodes = list(live.desired.nodes)
    names = {n.name for n in stack_nodes}
    runs_on = {str(a["node"]) for a in document.get("actions", []) if a.get("node")}
    leaving = [n for n in live.found.cluster.nodes if n.name in runs_on - names]
    if lab_name is None:
        return Inventory.from_nodes([*stack_nodes, *leaving], live.desired.quorum.qdevice)
    info = json.loads(lab_connection_file(lab_name).read_text(encoding="utf-8"))
    return Inventory.from_lab(Path(info["inventory"]), [*live.desired.node_names, *(n.name for n in leaving)])


def _run(document: dict[str, Any], run_dir: RunDir, values: secret_values.Secrets, live: Live,
         options: ApplyOptions, reporter: Reporter, stop: StopSignals, prune: Prune) -> ApplyOutcome:
    """Run Ansible, record the run, verify. Signals only cancel Ansible meanwhile."""
    events = record.EventLog(run_dir.root / "events.jsonl")
    try:
        with stop.cancelling(), reporter.running(len(run_dir.actions)) as view:
            result = runner.run(run_dir, secrets=values.values, blank_env=values.env_names, check=options.check,
                                on_event=_fan_out([events] if view is None else [events, ActionFeed(run_dir, view)]),
                                cancel=stop.is_requested)
    finally:
        events.close()
    if stop.requested is not None:
        result.failure_messages.insert(0, f"interrupted ({stop.requested}): ansible-playbook was stopped")
    outcome = ApplyOutcome(status="failed", document=document, result=result, run_dir=run_dir.root,
                           interrupted=stop.requested)
    with stop.deferred():
        record.write_summary(run_dir.root, result, {"plan_id": run_dir.plan_id, "check": options.check,
                                                    "interrupted": stop.requested})
        try:
            record.assert_no_secrets(run_dir.root, values.values.values())
        except record.SecretLeakError as exc:
            outcome.status, outcome.leak = "secret_leak", str(exc)
            return outcome
    if stop.requested is not None:
        outcome.status = "interrupted"
        return outcome
    if not result.ok:
        return outcome
    if options.check:
        outcome.status = "checked"
        return outcome
    verification = verify(live.desired, live.client, prune=prune, scope=plan_scope(document),
                          node_client=live.node_client)
    outcome.remaining = verification.remaining
    outcome.verified = verification
    outcome.status = "applied" if verification.converged else "not_converged"
    return outcome


def _fan_out(sinks: list[EventSink]) -> EventSink:
    def call(event: Event) -> None:
        for sink in sinks:
            sink(event)

    return call


__all__ = [
    "ApplyOptions",
    "ApplyOutcome",
    "Reporter",
    "apply",
    "force_unlock",
    "is_planfile",
    "physical_nics",
    "plan_id_of",
    "stale_reason",
    "state_dir",
    "unlock_command",
]
