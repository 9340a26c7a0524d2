#!/usr/bin/python
"""Ansible module: one PVE command with the wait before it and the check after it.

A change such as `pveceph fs create` used to be three or four tasks: poll `pvesh get`
until PVE is ready for it, run it, read the object back (`pveceph pool|fs` exit 0 when
their worker task fails), fail unless it is there. Each task is a module process on the
node, and an Ansible module built on `ansible.module_utils.basic` spends ~0.3 s of CPU
importing it (AnsiballZ ships it in a zip, where no bytecode is cached) before doing
anything: on a blank 3-node build that import was most of the CPU. This module does the
three steps in one process and imports nothing of Ansible, so a step costs its own
commands only.

How Ansible calls it: it is a "JSON args" module (the marker below), so Ansible replaces
the marker with the task's arguments as `json.dumps` text and runs the file with the
node's Python, pipelined like any module. The arguments are never Python source: they
are read with `json.loads` from a raw string literal that holds that text unchanged
(see `_JSON_ARGS`), and every command is an argv list, never a shell.

Steps, each optional but `argv`:
- `wait`: read `path` until one of its items has every key/value of `match`
  (`retries` reads, `delay` seconds apart), else fail naming what never appeared;
- run `argv`; a non-zero exit fails with the command's stderr;
- `check`: read `path` back (again up to `retries` times) until an item matches, else
  fail with the command's own stderr (PVE's words) or, when it said nothing, that the
  result is not there.
In check mode nothing runs (the task is reported skipped, as `command` is).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# Ansible puts the task's arguments, json.dumps text, where the marker is. A raw
# triple-double-quoted literal keeps any such text byte for byte: every `"` inside a
# JSON string is written `\"` (which does not end a raw literal), a backslash stays a
# backslash for json.loads to read, the text has no line breaks, and two unescaped `"`
# (an empty string) are always followed by `,` `:` `]` or `}`, never by a third.
_JSON_ARGS = r"""<<INCLUDE_ANSIBLE_MODULE_JSON_ARGS>>"""

NOT_THERE = "the command ended without an error, but the result is not there"

Run = Callable[[str, Sequence[str]], tuple[int, str, str]]
"""Runs one argv on the node for a step ("wait", "run", "check"): (rc, stdout, stderr)."""


class Stop(Exception):
    """The task fails with this message (and the command's result, when it ran)."""

    def __init__(self, msg: str, result: Mapping[str, Any] | None = None) -> None:
        super().__init__(msg)
        self.result = dict(result or {})


def _matches(answer: str, match: Mapping[str, Any]) -> bool:
    """True when the JSON list `answer` has an item with every key/value of `match`
    (compared as text: a template renders `1` and PVE answers 1)."""
    try:
        items = json.loads(answer)
    except ValueError:
        return False
    return isinstance(items, list) and any(
        isinstance(i, dict) and all(k in i and str(i[k]) == str(v) for k, v in match.items()) for i in items)


def _poll(run: Run, step: str, spec: Mapping[str, Any], sleep: Callable[[float], None]) -> bool:
    argv = ["pvesh", "get", str(spec["path"]), "--output-format", "json"]
    for attempt in range(max(1, int(spec.get("retries") or 1))):
        if attempt:
            sleep(float(spec.get("delay") or 0))
        rc, out, _ = run(step, argv)
        if rc == 0 and _matches(out, spec["match"]):
            return True
    return False


def execute(p: Mapping[str, Any], run: Run, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """The module's work, given a way to run commands (the tests give the case's answers)."""
    wait = p.get("wait")
    if wait and not _poll(run, "wait", wait, sleep):
        raise Stop(f"{wait.get('what') or wait['path']} did not appear in {wait['path']}")
    argv = [str(a) for a in p["argv"]]
    rc, out, err = run("run", argv)
    result = {"cmd": argv, "rc": rc, "stdout": out, "stderr": err, "changed": True}
    if rc != 0:
        raise Stop(err.strip() or f"{argv[0]} exited {rc}", result)
    check = p.get("check")
    if check and not _poll(run, "check", check, sleep):
        raise Stop(err.strip() or NOT_THERE, result)
    return result


def _run(step: str, argv: Sequence[str]) -> tuple[int, str, str]:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    except OSError as exc:
        return 127, "", f"{argv[0]}: {exc.strerror or exc}"
    return proc.returncode, proc.stdout, proc.stderr


def main() -> None:
    args = json.loads(_JSON_ARGS)
    if args.get("_ansible_check_mode"):
        out: dict[str, Any] = {"changed": False, "skipped": True, "msg": "skipped in check mode"}
    else:
        try:
            out = execute(args, _run)
        except Stop as exc:
            out = {**exc.result, "failed": True, "msg": str(exc)}
    print(json.dumps(out))
    sys.exit(1 if out.get("failed") else 0)


if __name__ == "__main__":
    main()
