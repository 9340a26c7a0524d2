#!/usr/bin/python
"""Ansible module: the one read a node makes at the start of a phase.

Every action's guard ("does the storage exist?", "does the resource already have these
values?") used to be its own `pvesh get` task: one process start on the node and one
Ansible task per action, and three more tasks per play for the quorum check. This module
makes all of a phase's reads on a node in one task: it runs `pvesh get PATH
--output-format json` for each path the phase's templates named (at the same time, each
an argv list, never a shell) and returns the parsed answers by path, so the guards that
follow are pure Ansible expressions over data already fetched.

The quorum check is folded in: `/cluster/status` is always read, and on a clustered node
`pvecm status` must say `Quorate: Yes` (it starts with the reads, so the check costs no
extra wait; on a node that turns out not to be clustered its answer is ignored). A node
that is not clustered yet passes only where the phase runs before (or creates) the
cluster (`quorum: optional`) or in check mode. A path may contain `{node}`: the node's
own name (`node`), so the playbook source never carries more than the template's
literal text.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any, NoReturn

# The task's arguments as json.dumps text, put here by Ansible: this is a "JSON args"
# module that imports nothing of Ansible, as library/pve_command.py explains (the probe
# runs once per node and play, so the ~0.3 s of CPU an `AnsibleModule` costs to import
# was paid some 18 times in a 3-node build). The raw literal keeps the text unchanged.
_JSON_ARGS = r"""<<INCLUDE_ANSIBLE_MODULE_JSON_ARGS>>"""

STATUS = "/cluster/status"
QUORATE = re.compile(r"^Quorate:\s+Yes\s*$", re.MULTILINE)


def _start(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _read(path: str) -> subprocess.Popen[str]:
    return _start(["pvesh", "get", path, "--output-format", "json"])


def _collect(procs: dict[str, subprocess.Popen[str]]) -> tuple[dict[str, object], dict[str, str]]:
    """Parsed answers by path (None where the read failed) and the failures' stderr."""
    facts: dict[str, object] = {}
    errors: dict[str, str] = {}
    for path, proc in procs.items():
        out, err = proc.communicate()
        if proc.returncode != 0:
            facts[path] = None
            errors[path] = (err or out).strip() or f"exit {proc.returncode}"
            continue
        try:
            facts[path] = json.loads(out) if out.strip() else None
        except ValueError:
            facts[path] = None
            errors[path] = "not JSON: " + out.strip()[:200]
    return facts, errors


def _exit(**result: Any) -> NoReturn:
    print(json.dumps(result))
    sys.exit(1 if result.get("failed") else 0)


def _fail(msg: str, **result: Any) -> NoReturn:
    _exit(failed=True, msg=msg, **result)


def _params(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments with their defaults, checked as the task's argument spec did."""
    params = {"node": args.get("node"), "reads": args.get("reads") or [],
              "quorum": args.get("quorum") or "required", "phase": str(args.get("phase") or "")}
    if not isinstance(params["node"], str) or not params["node"]:
        _fail("missing required arguments: node")
    if not isinstance(params["reads"], list) or not all(isinstance(p, str) for p in params["reads"]):
        _fail("reads must be a list of API paths")
    if params["quorum"] not in ("required", "optional"):
        _fail(f"quorum must be one of: required, optional, got: {params['quorum']}")
    return params


def main() -> None:
    args = json.loads(_JSON_ARGS)
    check_mode = bool(args.get("_ansible_check_mode"))
    params = _params(args)
    node = params["node"]
    paths = [STATUS] + [p.replace("{node}", node) for p in params["reads"] if p != STATUS]
    procs = {path: _read(path) for path in dict.fromkeys(paths)}
    try:
        pvecm: subprocess.Popen[str] | None = _start(["pvecm", "status"])
    except OSError:  # not a PVE node: fails below if it is clustered
        pvecm = None
    facts, errors = _collect(procs)
    out, err = pvecm.communicate() if pvecm is not None else ("", "pvecm: not found")
    status = facts.get(STATUS)
    if status is None:
        _fail(f"{node}: cannot read {STATUS}: {errors.get(STATUS, '')}; refusing to run phase "
              f"{params['phase']}")
    clustered = any(isinstance(e, dict) and e.get("type") == "cluster" for e in status)  # type: ignore[union-attr]
    quorate = None
    if clustered:
        quorate = pvecm is not None and pvecm.returncode == 0 and bool(QUORATE.search(out))
        if not quorate:
            _fail(f"{node}: cluster is not quorate (pvecm status: Quorate is not Yes); refusing to "
                  f"run phase {params['phase']}", stderr=err)
    elif params["quorum"] != "optional" and not check_mode:
        _fail(f"{node}: node is not part of a cluster yet; refusing to run phase "
              f"{params['phase']}")
    # The answers are keyed by the path as the template wrote it ({node} unexpanded).
    by_template = {p: facts.get(p.replace("{node}", node)) for p in params["reads"]}
    failed = {p: errors[p.replace("{node}", node)] for p in params["reads"]
              if p.replace("{node}", node) in errors}
    _exit(changed=False, facts=by_template, errors=failed, clustered=clustered, quorate=quorate)


if __name__ == "__main__":
    main()
