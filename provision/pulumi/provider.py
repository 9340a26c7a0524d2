"""The Pulumi dynamic provider of a Proxmox VE cluster, backed by the `provision` CLI.

Each provider method is one pve-provision command, run as a subprocess of the
provider process (the engine's `python -m pulumi.dynamic` plugin):

- `check`  = `provision validate`: load errors and error findings become check
  failures carrying the stack's FILE:LINE:COL; the stack file's digest joins the
  inputs, so an edit of the file (same path) is a change Pulumi sees;
- `diff`   = `provision plan --out`: the plan's changes name the changed properties
  (`ceph`, `storage`, ...), its replaces the replaced ones, and a plan that destroys
  asks for delete-before-replace; the plan file is kept for `update`;
- `create`/`update` = `provision apply PLANFILE`: exactly the plan `diff` showed (apply
  refuses it when the cluster moved since), or a fresh plan for a new resource;
- `read`   = discovery: name, nodes, quorum, Ceph health and the changes still pending,
  so `pulumi refresh` shows drift;
- `delete` refuses unless the input `allow_delete` is true, and then only forgets the
  cluster: pve-provision never tears a cluster down.

The CLI runs in a subprocess because apply turns signals into a clean stop and that
only works in a process's main thread (the gRPC server calls us from worker threads).
Secrets arrive as the input `secrets` (environment variable name → value, Pulumi
secrets in the program, so encrypted in the state); they reach the CLI through its
environment only, never argv or a file, and never appear in outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from provision.apply import plan_id_of

#: Plan addresses start with these words; Pulumi shows the stack key they live under.
_PROPERTY = {"node": "nodes", "network": "nodes", "corosync": "corosync", "quorum": "quorum", "ceph": "ceph",
             "storage": "storage", "ha": "ha"}
_TIMEOUT = 6 * 3600


class ProvisionFailed(Exception):
    """A pve-provision command failed; the message is its own one-line error."""


def _home() -> Path:
    return Path(os.environ.get("PROVISION_HOME") or Path.home() / ".local" / "state" / "pve-provision")


def stack_digest(stack: str) -> str:
    """sha256 of the stack file's bytes: Pulumi diffs inputs, and the path alone never changes."""
    return "sha256:" + hashlib.sha256(Path(stack).read_bytes()).hexdigest()


def _cli(props: Mapping[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    secrets = {str(k): str(v) for k, v in (props.get("secrets") or {}).items()}
    env = {**os.environ, **secrets, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "provision", *args], env=env, capture_output=True, text=True,
                          timeout=_TIMEOUT, stdin=subprocess.DEVNULL, check=False)


def _failed(proc: subprocess.CompletedProcess[str], what: str) -> ProvisionFailed:
    lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
    return ProvisionFailed(f"provision {what} failed (exit {proc.returncode}): " + " / ".join(lines[-5:]))


def _plan_file(props: Mapping[str, Any]) -> Path:
    """Where `diff` keeps the plan `update` applies: one per stack content."""
    digest = str(props.get("stack_digest") or stack_digest(str(props["stack"]))).split(":")[-1]
    return _home() / "pulumi" / f"{digest[:32]}.json"


def plan(props: Mapping[str, Any]) -> tuple[dict[str, Any], Path]:
    """`provision plan STACK --out FILE`: the plan document and where it is saved."""
    out = _plan_file(props)
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = _cli(props, "plan", str(props["stack"]), "--out", str(out), "--format", "json")
    if proc.returncode != 0:
        raise _failed(proc, "plan")
    document: dict[str, Any] = json.loads(proc.stdout)
    return document, out


def _changed(document: Mapping[str, Any]) -> bool:
    return bool(document.get("actions"))


def diff_of(document: Mapping[str, Any]) -> DiffResult:
    """Pulumi's view of a plan: which stack keys change, which are replaced, destroy first or not."""
    changes = list(document.get("changes", []))
    prop = [_PROPERTY.get(str(c["address"]).split("[", 1)[0].split(".", 1)[0], "cluster") for c in changes]
    replaces = sorted({p for p, c in zip(prop, changes, strict=True) if c.get("action") == "replace"})
    destroys = any(c.get("action") in ("delete", "replace") and c.get("destructive") for c in changes)
    return DiffResult(changes=_changed(document), replaces=replaces, stables=[],
                      delete_before_replace=destroys)


def _apply(props: Mapping[str, Any], planfile: Path) -> None:
    proc = _cli(props, "apply", str(planfile), "--auto-approve", "--output", "json")
    if proc.returncode != 0:
        raise _failed(proc, "apply")


def observe(props: Mapping[str, Any]) -> dict[str, Any]:
    """The outputs, from discovery: what the cluster is now, not what the stack says."""
    from provision.plan.workflow import read_live

    live = read_live(Path(str(props["stack"])))
    observed = live.found.observed
    nodes = sorted(observed.members) or sorted(n.name for n in live.found.cluster.nodes)
    health = None
    if observed.ceph_initialised and nodes:
        status = live.client.get(f"/nodes/{nodes[0]}/ceph/status", optional=True) or {}
        health = (status.get("health") or {}).get("status")
    return {
        "name": observed.cluster_name or live.desired.name,
        "nodes": nodes,
        "quorum_votes": observed.expected_votes,
        "quorate": observed.quorate,
        "ceph_health": health,
    }


class ClusterProvider(ResourceProvider):
    """See the module docstring; one instance serves every cluster of a Pulumi program."""

    serialize_as_secret_always = False

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        stack = news.get("stack")
        if not isinstance(stack, str) or not stack:
            return CheckResult(news, [CheckFailure("stack", "give the path of a stack file")])
        if not Path(stack).is_file():
            return CheckResult(news, [CheckFailure("stack", f"{stack}: no such file")])
        proc = _cli(news, "validate", stack, "--format", "json")
        failures = []
        try:
            findings = json.loads(proc.stdout) if proc.stdout.strip() else []
        except json.JSONDecodeError:
            findings = []
        for f in findings:
            if f.get("severity") == "error":
                hint = f" ({f['hint']})" if f.get("hint") else ""
                failures.append(CheckFailure("stack", f"{f['file']}:{f['line']}:{f['column']}: {f['address']}: "
                                                      f"{f['message']}{hint} [{f['rule']}]"))
        if proc.returncode != 0 and not failures:
            failures.append(CheckFailure("stack", str(_failed(proc, "validate"))))
        return CheckResult({**news, "stack_digest": stack_digest(stack)}, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        document, _ = plan(news)
        result = diff_of(document)
        if not result.changes and _inputs_moved(olds, news):
            return DiffResult(changes=True, replaces=[], stables=[], delete_before_replace=False)
        return result

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._converge(props)
        return CreateResult(f"pve-cluster-{outs['name']}", outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._converge(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        document, _ = plan(props)
        outs = {**_kept(props), **observe(props), "pending_changes": len(document.get("actions", []))}
        return ReadResult(id_, outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if not props.get("allow_delete"):
            raise ProvisionFailed(
                f"refusing to delete the Proxmox cluster of {props.get('stack')}: pve-provision never tears a "
                "cluster down; set allow_delete: true to let Pulumi forget it (the cluster keeps running)")

    def _converge(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Apply the plan `diff` saved for this stack content, or a fresh one; then observe."""
        planfile = _plan_file(props)
        if not planfile.is_file():
            _, planfile = plan(props)
        document = json.loads(planfile.read_text(encoding="utf-8"))
        plan_id = str(props.get("last_plan_id") or "")
        if _changed(document):
            _apply(props, planfile)
            plan_id = plan_id_of(document)
        planfile.unlink(missing_ok=True)
        return {**_kept(props), **observe(props), "pending_changes": 0, "last_plan_id": plan_id}


def _kept(props: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs echoed as outputs (never `secrets`)."""
    return {k: props.get(k) for k in ("stack", "stack_digest", "allow_delete", "last_plan_id") if k in props}


def _inputs_moved(olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    """An input that is not the cluster changed (the delete flag, the secrets): record it."""
    keys = ("stack", "allow_delete", "secrets")
    return any(olds.get(k) != news.get(k) for k in keys)
