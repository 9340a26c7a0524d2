"""What every lab node CLI shares: who am I, PVE-style argument parsing, errors, fail-once.

The CLIs run in-process against the handler registry (as PVE's CLIs call its API
handlers), acting as ``$PVE_LAB_NODE`` of the lab in ``$PVE_LAB_DIR``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from provision.lab import parsecache
from provision.lab.paths import LabPaths
from provision.lab.registry import ApiError, Ctx
from provision.lab.store import Store

PARSE_CACHE_DIR = "parsecache"
"""Under the lab directory: the parses node CLI processes share (``parsecache.persist_in``)."""
EXIT_ERROR = 255  # an uncaught Perl ``die`` in PVE's CLIs
EXIT_UNREACHABLE = 255
ON_NODE_ENV = "PVE_LAB_ON_NODE"
"""Set for commands the node runs by itself (its timers): they do not go through the
controller's SSH connection, so a node cut off from the controller still runs them."""


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    raise CliError(message, code)


@dataclass
class Args:
    """``cmd sub pos1 pos2 --opt value -flag``: PVE accepts ``--opt`` and ``-opt`` alike."""

    positional: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    repeated: dict[str, list[str]] = field(default_factory=dict)

    def pos(self, index: int, what: str) -> str:
        if index >= len(self.positional):
            fail(f"400 not enough arguments\n{what}: property is missing and it is not optional")
        return self.positional[index]

    def pop(self, name: str, default: str | None = None) -> str | None:
        return self.options.pop(name, default)


def parse_args(argv: list[str], flags: frozenset[str] = frozenset()) -> Args:
    """PVE's CLI option syntax; names in ``flags`` may appear without a value (booleans)."""
    out = Args()
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            out.positional.extend(argv[i + 1:])
            break
        if tok.startswith("-") and len(tok) > 1 and not _is_number(tok):
            name = tok.lstrip("-")
            value: str | None = None
            if "=" in name:
                name, value = name.split("=", 1)
            elif i + 1 < len(argv) and not (argv[i + 1].startswith("-") and not _is_number(argv[i + 1])):
                if name in flags and argv[i + 1] not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
                    value = "1"
                else:
                    i += 1
                    value = argv[i]
            else:
                if name not in flags:
                    fail(f"400 Parameter verification failed.\n{name}: option requires a value")
                value = "1"
            out.options[name] = value
            out.repeated.setdefault(name, []).append(value)
        else:
            out.positional.append(tok)
        i += 1
    return out


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


@contextmanager
def node_context(cmdline: list[str]) -> Iterator[Ctx]:
    """Open the lab as ``$PVE_LAB_NODE``; refuse when that node is off; apply fail-once faults."""
    lab_dir = os.environ.get("PVE_LAB_DIR")
    node = os.environ.get("PVE_LAB_NODE")
    if not lab_dir or not node:
        fail("PVE_LAB_DIR and PVE_LAB_NODE must be set (see: provision lab env NODE)", 1)
    paths = LabPaths(Path(lab_dir))
    if not paths.db.exists():
        fail(f"no lab at '{lab_dir}'", 1)
    parsecache.persist_in(paths.root / PARSE_CACHE_DIR)  # this process parses each big file only once
    store = Store(paths.db)
    try:
        row = store.one("SELECT power FROM nodes WHERE name = ?", (node,))
        if row is None:
            fail(f"unknown node '{node}' in lab '{paths.name}'", 1)
        if not row["power"]:
            fail(f"ssh: connect to host {node} port 22: No route to host (node is powered off)", EXIT_UNREACHABLE)
        if paths.cut_off(node).exists() and os.environ.get(ON_NODE_ENV) != "1":
            fail(f"ssh: connect to host {node} port 22: No route to host (its network no longer has its "
                 "management address)", EXIT_UNREACHABLE)
        _fail_once(store, cmdline)
        try:
            yield Ctx(store, paths, node, "root@pam")
        finally:
            _sync_real(store, paths)
    finally:
        store.close()


def _sync_real(store: Store, paths: LabPaths) -> None:
    """This command's corosync.conf reaches the real daemons of a ``--real`` lab; a
    simulated lab (the common case) does not import the real parts at all."""
    from provision.lab import real

    if real.enabled(paths.root):
        from provision.lab import pmxcfs

        pmxcfs.sync(store, paths)


def _fail_once(store: Store, cmdline: list[str]) -> None:
    """Consume the first pending ``lab faults --fail-once`` entry that prefixes this command.

    Read first, and open a write transaction only when an entry matches: every node CLI
    call passes here, and 32 nodes' commands each taking the store's write lock at start
    queued behind one another (and behind the one holding the HA lock)."""
    line = " ".join(cmdline)

    def first() -> int | None:
        for r in store.query("SELECT id, prefix FROM fail_once ORDER BY id"):
            prefix = str(r["prefix"])
            if line == prefix or line.startswith(prefix + " "):
                return int(r["id"])
        return None

    if first() is None:
        return
    with store.tx() as c:  # consume the entry and commit before failing
        hit = first()  # again inside the transaction: another command may have taken it
        if hit is not None:
            c.execute("DELETE FROM fail_once WHERE id = ?", (hit,))
    if hit is not None:
        fail(f"command '{line}' failed: injected fault (lab fail-once)", EXIT_ERROR)


def run(main: Callable[[list[str]], int | None], argv: list[str]) -> int:
    """Run a CLI body, mapping errors to stderr + exit code like PVE's CLI handler."""
    try:
        return main(argv) or 0
    except CliError as exc:
        print(exc.message, file=sys.stderr)
        return exc.code
    except ApiError as exc:
        msg = exc.message
        if exc.errors:
            # a PVE::Exception with a code (parameter errors) stringifies as "<code> <msg>"
            msg = f"{exc.status} {msg}\n" + "\n".join(f"{k}: {v}" for k, v in exc.errors.items())
        print(msg, file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        # a real part (corosync, a namespace) refused: one line. Only a command that
        # loaded the real parts can raise their error, so a simulated lab's command
        # need not import them to catch it.
        host = sys.modules.get("provision.lab.real.host")
        if host is None or not isinstance(exc, host.RealLabError):
            raise
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR


def print_json(data: Any, pretty: bool = False) -> None:
    if pretty:
        print(json.dumps(data, sort_keys=True, indent=4))
    else:
        print(json.dumps(data, sort_keys=True, separators=(",", ":")))


def print_task_log(ctx: Ctx, upid: Any, stream: Any = None) -> bool:
    """CLI workers run in the foreground (pve-common ``RESTEnvironment.pm`` fork_worker with
    ``type eq 'cli'``): their output goes to stdout, a failure's message to stderr. Returns
    whether the task failed; the caller decides the exit code (see ``EXIT_UPID``)."""
    if not isinstance(upid, str) or not upid.startswith("UPID:"):
        return False
    row = ctx.store.one("SELECT log, exitstatus FROM tasks WHERE upid = ?", (upid,))
    if row is None:
        return False
    lines = str(row["log"]).splitlines()
    text = "".join(line + "\n" for line in lines if line != "TASK OK" and not line.startswith("TASK ERROR: "))
    (stream or sys.stdout).write(text)
    status = str(row["exitstatus"] or "OK")
    if status != "OK":
        print(status, file=sys.stderr)
        return True
    return False


def options_as_params(args: Args) -> dict[str, Any]:
    """Remaining ``--opt value`` pairs as handler params (repeated options joined by commas)."""
    return {k: ",".join(v) if len(v) > 1 else v[0] for k, v in args.repeated.items() if k in args.options}
