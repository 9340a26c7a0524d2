"""The live plan: load a stack, reach its cluster, discover it, plan the difference.

`plan`, `drift` and `apply STACK` all start this way, and `apply PLANFILE` needs the
same connection and discovery to check that the stored plan still fits. It lives here,
as one public function, so that no front end reaches into another for it. This is the
one place where the planner talks to a live cluster (through `provision.discover`);
`diff`, `order` and `make_plan` themselves stay pure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from provision.discover import ApiClient, Discovery, Endpoint, Fetch, NodeClient, bootstrap, from_connection
from provision.discover.discover import DEFAULT_WORKERS
from provision.discover.errors import DiscoveryError
from provision.plan.errors import PlanError
from provision.plan.guests import missing_guests
from provision.plan.prune import Prune
from provision.plan.targets import check_targets
from provision.spec import Cluster, Connection, Diagnostic, LoadedStack, SpecError, load_stack
from provision.spec.addresses import Address

if TYPE_CHECKING:
    from provision.plan.plan import Plan


def api_workers() -> int:
    """Most concurrent API requests of a discovery (`PROVISION_API_WORKERS`, default
    `DEFAULT_WORKERS`); a discovery starts only as many as it has requests waiting."""
    try:
        return max(1, int(os.environ.get("PROVISION_API_WORKERS", str(DEFAULT_WORKERS))))
    except ValueError:
        return DEFAULT_WORKERS


def connect(desired: Cluster, stack: Path, connection: Connection | None = None, *,
            insecure: bool = False) -> Endpoint:
    """The endpoint of the stack's cluster; `connection` (from `--lab` and the like) wins."""
    chosen = connection or desired.connection
    if chosen is None:
        raise PlanError(f"{stack}: the stack has no `connection` (add `connection: {{lab: default}}` "
                        "or pass --lab NAME)")
    return from_connection(chosen, insecure=insecure)


def node_clients(desired: Cluster, connection: Connection | None = None, *, insecure: bool = False) -> NodeClient:
    """Clients of the own APIs of nodes that are not members yet (`connection.api.bootstrap`,
    or a lab's bootstrap tokens), resolved only for the nodes discovery finds outside the
    cluster."""
    chosen = connection or desired.connection
    assert chosen is not None  # connect() refused a stack without one
    endpoints = bootstrap.for_connection(chosen, insecure=insecure)
    return lambda node: ApiClient.for_endpoint(endpoints(node))


@dataclass
class Live:
    """A stack, the cluster it names as discovery saw it, and how to reach it again."""

    stack: Path
    desired: Cluster
    endpoint: Endpoint
    client: ApiClient
    found: Discovery
    node_client: NodeClient | None = None
    loaded: LoadedStack | None = None  # the YAML tree, to place a plan error in the file


class _EarlyDiscovery:
    """Discovery's cluster-wide requests, sent while the stack is still being validated.

    They need only the connection (`--lab` and the like, or the stack's own `connection`,
    validated on its own with the stack's secret rules); the per-node requests wait for
    the validated node list. Validating a large stack, and importing the planner, then
    happen while the answers travel (issue #17: the no-op plan of a 32-node cluster).
    A connection that does not validate on its own, or an endpoint that cannot be built,
    starts nothing: the usual path reports it in its usual order, stack errors first."""

    def __init__(self, override: Connection | None, insecure: bool,
                 on_endpoint: Callable[[Endpoint], None] | None) -> None:
        self.override = override
        self.insecure = insecure
        self.on_endpoint = on_endpoint
        self.connection: Connection | None = None
        self.endpoint: Endpoint | None = None
        self.client: ApiClient | None = None
        self.fetch: Fetch | None = None

    def start(self, data: Any, context: dict[str, Path]) -> None:
        """The `on_parsed` hook of `load_stack`."""
        connection = self.override
        if connection is None:
            raw = data.get("connection") if isinstance(data, dict) else None
            if not isinstance(raw, dict):
                return
            try:
                connection = Connection.model_validate(raw, context=context)
            except ValidationError:
                return
        try:
            endpoint = from_connection(connection, insecure=self.insecure)
            client = ApiClient.for_endpoint(endpoint)
        except (DiscoveryError, OSError):
            return
        nodes = data.get("nodes") if isinstance(data, dict) else None
        if self.on_endpoint is not None:
            self.on_endpoint(endpoint)
        self.connection, self.endpoint, self.client = connection, endpoint, client
        self.fetch = Fetch(client, api_workers(), len(nodes) if isinstance(nodes, list) else 1)

    def take(self, connection: Connection) -> tuple[Endpoint, ApiClient, Fetch] | None:
        """The started discovery, if it reads the cluster `connection` names."""
        if self.fetch is None or self.connection != connection:
            return None
        assert self.endpoint is not None and self.client is not None
        return self.endpoint, self.client, self.fetch

    def close(self) -> None:
        if self.fetch is not None:
            self.fetch.close()


def _import_planner() -> None:
    """Import the planner's heavy half (the action catalogue and its parameter models, the
    CRM model), while discovery's answers are on their way."""
    import provision.plan.plan  # noqa: F401


def read_live(stack: Path, connection: Connection | None = None, *, insecure: bool = False,
              before_discovery: Sequence[Address] = (),
              on_endpoint: Callable[[Endpoint], None] | None = None) -> Live:
    """Load `stack` and discover its cluster. `before_discovery` are `--target`
    addresses, checked before any request so that a typo fails fast; `on_endpoint`
    sees the endpoint before the first request (to warn about `--insecure`).

    The cluster-wide requests leave as soon as the stack's connection is known, before
    the rest of the stack is validated (`_EarlyDiscovery`)."""
    check_targets(before_discovery)
    early = _EarlyDiscovery(connection, insecure, on_endpoint)
    try:
        loaded = load_stack(stack, on_parsed=early.start)
        desired = loaded.cluster
        chosen = connection or desired.connection
        started = early.take(chosen) if chosen is not None else None
        if started is not None:
            endpoint, client, fetch = started
        else:
            early.close()
            endpoint = connect(desired, stack, connection, insecure=insecure)
            if on_endpoint is not None:
                on_endpoint(endpoint)
            client = ApiClient.for_endpoint(endpoint)
            fetch = Fetch(client, api_workers(), len(desired.nodes))
        own = node_clients(desired, connection, insecure=insecure)
        found = fetch.discover(hint_nodes=desired.node_names, node_client=own,
                               read_report=desired.quorum.qdevice is not None, meanwhile=_import_planner)
    finally:
        early.close()
    return Live(stack=stack, desired=desired, endpoint=endpoint, client=client, found=found, node_client=own,
                loaded=loaded)


def plan_of(live: Live, *, prune: bool | Prune = False, targets: Sequence[Address] = ()) -> Plan:
    """The ordered, safety-checked plan from what `live` discovered. An HA resource
    without its guest is reported at its place in the stack file (FILE:LINE:COL)."""
    missing = missing_guests(live.desired, live.found.cluster, live.found.observed)
    if missing and live.loaded is not None:
        loaded = live.loaded
        raise SpecError([Diagnostic(str(loaded.path), *loaded.position(m.loc), str(m.address), m.message)
                         for m in missing])
    refuse_infeasible_rules(live)
    from provision.plan.plan import make_plan  # imported while discovery ran (_import_planner)

    return make_plan(live.desired, live.found.cluster, live.found.observed, stack=str(live.stack), prune=prune,
                     targets=targets)


def refuse_infeasible_rules(live: Live) -> None:
    """A PVE 9 rule the CRM would drop ("Drop rule ..., because ...") is refused at its
    place in the stack with PVE's reason: applied, PVE would keep it in rules.cfg but
    silently not enforce it."""
    desired, loaded = live.desired, live.loaded
    if desired.pve_version < 9 or loaded is None:
        return
    from provision.crm.shapes import infeasible_rules

    dropped = infeasible_rules(desired.ha.groups, desired.ha.rules, desired.ha.resources, desired.node_names)
    if dropped:
        raise SpecError([
            Diagnostic(str(loaded.path), *loaded.position(("ha", "rules", i, d.option)),
                       f'ha.rule["{d.rule}"]', f"PVE ignores this rule: {d.reason}", "fix it, or set disable: true")
            for i, d in dropped])


@dataclass
class LivePlan:
    live: Live
    plan: Plan
    document: dict[str, Any]

    @property
    def changed(self) -> bool:
        return self.plan.has_changes

    @property
    def unmanaged(self) -> int:
        return int(self.plan.summary()["unmanaged"])


def plan_stack(stack: Path, connection: Connection | None = None, *, insecure: bool = False,
               prune: bool | Prune = False, targets: Sequence[Address] = (),
               on_endpoint: Callable[[Endpoint], None] | None = None) -> LivePlan:
    """Load, discover, plan: what `provision plan` and `provision drift` show."""
    live = read_live(stack, connection, insecure=insecure, before_discovery=targets, on_endpoint=on_endpoint)
    plan = plan_of(live, prune=prune, targets=targets)
    return LivePlan(live=live, plan=plan, document=plan.to_document())


__all__ = ["Live", "LivePlan", "api_workers", "connect", "node_clients", "plan_of", "plan_stack", "read_live"]
