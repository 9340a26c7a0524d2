"""Making a plan: diff + order + safety, serialised as the versioned plan document.

The JSON plan document (`Plan.to_document()`, format_version "2") is the one
source of truth: the text and Markdown renderers read it, plan files store it,
apply consumes its `actions`. See docs/plan-format.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from provision.actions import PHASES, Action
from provision.discover.observed import Observed
from provision.plan.diff import Change, diff
from provision.plan.errors import PlanError
from provision.plan.files import interfaces_diffs
from provision.plan.guests import missing_guests
from provision.plan.impact import GuestImpact, guest_impacts
from provision.plan.order import build_actions, check_safety, order_actions, select_targets
from provision.plan.prune import Prune
from provision.plan.targets import check_targets
from provision.spec.addresses import Address
from provision.spec.cluster import Cluster
from provision.version import tool_version

FORMAT_VERSION = "2"
"""2: typed action ids and params validated per kind (docs/plan-format.md); 1 is refused."""
MUTATING = ("create", "update", "replace", "delete")


def spec_digest(desired: Cluster) -> str:
    """sha256 of the normalised desired model (secret references, never secrets)."""
    blob = json.dumps(desired.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Plan:
    changes: list[Change]
    actions: list[Action]
    notes: list[str] = field(default_factory=list)
    stack: str = ""
    spec_digest: str = ""
    observed_fingerprint: str = ""
    identity: dict[str, Any] = field(default_factory=dict)
    prune: Prune = field(default_factory=Prune)
    targets: list[str] = field(default_factory=list)
    created_at: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)  # what discovery could not read, "address: why"
    impacts: dict[str, list[GuestImpact]] = field(default_factory=dict)
    """Change address -> running guests it stops, starts, migrates or restarts (impact.py)."""
    live: dict[str, Any] = field(default_factory=dict)
    """What the plan was made from, for saying what moved when it is stale: node
    online/offline and where each guest runs."""

    @property
    def has_changes(self) -> bool:
        return any(c.action in MUTATING for c in self.changes)

    def summary(self) -> dict[str, int]:
        """Terraform's counting: a replace is one add and one destroy."""
        out = {"add": 0, "change": 0, "destroy": 0, "unmanaged": 0}
        for c in self.changes:
            if c.action in ("create", "replace"):
                out["add"] += 1
            if c.action in ("delete", "replace"):
                out["destroy"] += 1
            if c.action == "update":
                out["change"] += 1
            if c.action == "unmanaged":
                out["unmanaged"] += 1
        return out

    def to_document(self) -> dict[str, Any]:
        phases = []
        for phase in PHASES:
            ids = [str(a.id) for a in self.actions if a.phase == phase]
            if ids:
                phases.append({"name": phase, "actions": ids})
        return {
            "format_version": FORMAT_VERSION,
            "tool": {"name": "pve-provision", "version": tool_version()},
            "created_at": self.created_at,
            "stack": self.stack,
            "spec_digest": self.spec_digest,
            "observed_fingerprint": self.observed_fingerprint,
            "cluster": self.identity,
            "options": {"prune": self.prune.enabled, "prune_scope": self.prune.texts(),
                        "targets": list(self.targets)},
            "summary": self.summary(),
            "changes": [self._change_json(c) for c in self.changes if c.action in MUTATING],
            "unmanaged": [c.to_json() for c in self.changes if c.action == "unmanaged"],
            "notes": list(self.notes),
            "not_compared": list(self.not_compared),
            "files": list(self.files),
            "phases": phases,
            "actions": [a.to_json() for a in self.actions],
            "live": self.live,
        }

    def _change_json(self, change: Change) -> dict[str, Any]:
        out = change.to_json()
        impacts = self.impacts.get(str(change.address))
        if impacts:
            out["guest_impact"] = [i.to_json() for i in impacts]
        return out


def check_founder(desired: Cluster, facts: Observed) -> None:
    """Before a cluster exists, the connection must reach the node it will be created on.

    The cluster is created on the stack's first node, whose /etc/pve (tokens included)
    becomes the cluster's; every other node's own tokens are gone when it joins. A
    connection to another node would stop working half-way through the build."""
    first = desired.nodes[0].name if desired.nodes else None
    local = facts.local_node
    if facts.clustered or first is None or local is None or local == first:
        return
    raise PlanError(f"the cluster will be created on {first} (the stack's first node), but the connection reaches "
                    f"{local}, whose own API token is gone once it joins: point connection.api at {first} with a "
                    f"token made there (and give {local} a connection.api.bootstrap entry), or list {local} first")


def make_plan(
    desired: Cluster,
    observed: Cluster,
    facts: Observed | None = None,
    *,
    stack: str = "",
    prune: bool | Prune = False,
    targets: Sequence[Address] = (),
    now: datetime | None = None,
) -> Plan:
    """Diff, order and check a plan. Raises PlanError (no actions) when the
    cluster is not quorate, an HA resource names a guest that does not exist, a
    change is impossible, a target names no kind of
    object, or a step would be unsafe."""
    check_targets(targets)
    prune = Prune.of(prune)
    if facts is not None and facts.clustered and not facts.quorate:
        offline = ", ".join(facts.offline_members) or "none"
        raise PlanError(
            f"cluster is not quorate: {facts.online_votes} of {facts.expected_votes} votes online "
            f"(offline: {offline}); refusing to plan changes until quorum is back"
        )
    if facts is not None:
        check_founder(desired, facts)
    missing = missing_guests(desired, observed, facts)
    if missing:
        raise PlanError([str(m) for m in missing])
    changes = diff(desired, observed, prune=prune, facts=facts)
    actions = build_actions(changes, desired, observed, facts, prune=prune.enabled)
    ordered = order_actions(actions)
    if targets:
        ordered = order_actions(select_targets(ordered, targets))
        covered = {c for a in ordered for c in a.changes}
        changes = [c for c in changes
                   if str(c.address) in covered or any(t.contains(c.address) for t in targets)]
    check_safety(ordered, desired, observed, facts)
    files = interfaces_diffs(ordered, facts)
    notes = [f"{c.address}: {c.reason}" for c in changes if c.action == "noop-note"]
    not_compared = [f"{c.address}: {c.reason}" for c in changes if c.action == "noop-note" and c.not_compared]
    if facts is not None:
        notes += facts.notes
    identity = facts.identity() if facts is not None else {"name": observed.name or None}
    identity["stack_name"] = desired.name
    moment = now or datetime.now(UTC)
    live = {"guests": {g.sid: g.node for g in observed.guests},
            "nodes": {n: m.online for n, m in sorted(facts.members.items())} if facts is not None else {}}
    return Plan(
        changes=[c for c in changes if c.action != "noop-note"],
        actions=ordered,
        notes=notes,
        stack=stack,
        spec_digest=spec_digest(desired),
        observed_fingerprint=facts.fingerprint if facts is not None else "",
        identity=identity,
        prune=prune,
        targets=[str(t) for t in targets],
        created_at=moment.isoformat(timespec="seconds"),
        files=files,
        not_compared=not_compared,
        impacts=guest_impacts(changes, desired, observed, facts),
        live=live,
    )


__all__ = ["FORMAT_VERSION", "Plan", "PlanError", "make_plan", "spec_digest"]
