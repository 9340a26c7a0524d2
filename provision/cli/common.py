"""What every command module shares: one-line failures, the plan renderers, the
`--insecure` warning.

Kept apart from the command modules so that none of them imports another's
internals; each command module only parses its options and renders results.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:  # the packages are imported where used: a command pays only for what it runs
    from rich.console import Console

    from provision.discover import Endpoint
    from provision.plan.prune import Prune

F = TypeVar("F", bound=Callable[..., Any])


class Format(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


def fail(message: str) -> typer.Exit:
    """Print `message` on stderr; the caller raises the returned exit (code 1)."""
    typer.echo(message, err=True)
    return typer.Exit(1)


def errors(fn: F) -> F:
    """Turn every expected failure into one clear line and exit code 1 (PROVISION_DEBUG=1
    shows a traceback for unexpected ones)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as exc:
            raise _one_line(exc) from None

    return wrapper  # type: ignore[return-value]


def _one_line(exc: Exception) -> typer.Exit:
    """The exit for a failure of a command, its message printed. The error types are
    imported here, on the way out: a command that succeeds does not load the packages of
    the others (`plan` would pay for Ansible's playbook rendering otherwise)."""
    from provision.apply.errors import ApplyError
    from provision.discover.errors import DiscoveryError
    from provision.plan.errors import PlanError
    from provision.plan.planfile import PlanFileError
    from provision.spec import SecretUnavailableError, SpecError

    if isinstance(exc, SpecError):
        for diag in exc.diagnostics:
            typer.echo(str(diag), err=True)
        return typer.Exit(1)
    if isinstance(exc, DiscoveryError):
        return fail(f"error: cannot read the cluster: {exc}")
    if isinstance(exc, PlanError):
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        return typer.Exit(1)
    if isinstance(exc, ApplyError):
        return fail(str(exc))
    if isinstance(exc, (PlanFileError, SecretUnavailableError)):
        return fail(f"error: {exc}")
    if os.environ.get("PROVISION_DEBUG"):
        raise exc
    return fail(f"internal error: {type(exc).__name__}: {exc} (PROVISION_DEBUG=1 shows a traceback)")


PRUNE_HELP = ("Delete objects that exist but are not in the stack: all of them, or only this kind or address "
              "(repeatable), e.g. --prune ceph.osd, --prune 'storage[\"old\"]'. Objects under `ignore:` never.")
OPTIONAL_VALUE = ("--prune",)
"""Options whose value may be left out (`--prune` alone means everything)."""


def optional_values(argv: list[str]) -> list[str]:
    """Give the options of OPTIONAL_VALUE their value when it was left out: `--prune`
    followed by nothing, by another option or by an existing file (the stack, written
    after it) becomes `--prune=*`. The command line parser needs a value for every
    occurrence of an option that takes one."""
    out: list[str] = []
    if not any(token in OPTIONAL_VALUE for token in argv):
        return list(argv)
    from provision.plan.prune import EVERYTHING

    for i, token in enumerate(argv):
        if token in OPTIONAL_VALUE:
            following = argv[i + 1] if i + 1 < len(argv) else None
            if following is None or following.startswith("-") or Path(following).exists():
                out.append(f"{token}={EVERYTHING}")
                continue
        out.append(token)
    return out


def prune_scope(values: list[str] | None) -> Prune:
    """`--prune` values as a scope; a value that names no kind of object is one line."""
    from provision.plan.prune import Prune

    try:
        return Prune.of(values or [])
    except ValueError as exc:
        raise fail(f"error: --prune {exc}") from None


def warn_insecure(endpoint: Endpoint) -> None:
    if endpoint.insecure:
        typer.echo(f"warning: TLS verification is OFF for {endpoint.describe()} (--insecure); "
                   "anyone on the path can read the API token", err=True)


LOG_WIDTH = 1000
"""Columns of text written to a file or a pipe: wide enough that no table row wraps.
Rich falls back to 80 columns without a terminal, which folds every wide table into
unreadable fragments in a CI log; a log has no right edge to respect."""


def stdout_console() -> Console:
    """A rich console for tables on stdout: the terminal's width on a terminal, else
    `LOG_WIDTH` (so logs keep one line per row)."""
    from rich.console import Console

    tty = sys.stdout.isatty()
    return Console(highlight=False, width=None if tty else LOG_WIDTH)


_URL = re.compile(r"^https?://[^\s<>()\[\]`]+$")


def render_plan(document: dict[str, Any], fmt: Format, *, full_plan: str | None = None,
                markdown_limit: int | None = None, full_plan_url: str | None = None) -> str:
    """A plan document as text (coloured on a terminal unless NO_COLOR), Markdown or JSON.

    Markdown is for a review comment: cut to `markdown_limit` bytes (0: whole; None:
    `fit.DEFAULT_LIMIT`, what GitHub accepts), pointing at
    the plan file `full_plan` and the link `full_plan_url` when it had to be cut."""
    if full_plan_url is not None and not _URL.match(full_plan_url):
        raise fail(f"error: --full-plan-url {full_plan_url!r} is not an http(s) URL without spaces, brackets, "
                   "parentheses or backticks")
    from provision.plan.render import render_json, render_markdown, render_text
    from provision.plan.render.fit import DEFAULT_LIMIT

    if markdown_limit is None:
        markdown_limit = DEFAULT_LIMIT

    if fmt is Format.json:
        return render_json(document)
    if fmt is Format.markdown:
        try:
            return render_markdown(document, limit=markdown_limit or None, full_plan=full_plan,
                                   full_plan_url=full_plan_url)
        except ValueError as exc:
            raise fail(f"error: --markdown-limit {markdown_limit}: {exc}") from None
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return render_text(document, color=color)


__all__ = ["LOG_WIDTH", "PRUNE_HELP", "Format", "errors", "fail",
           "optional_values", "prune_scope", "render_plan", "stdout_console", "warn_insecure"]
