"""`provision plan`, `show`, `drift` and `import`: read the cluster, compare, report.

- `plan STACK`: discover, diff, order; print the plan (text/markdown/json) and
  optionally store it (`--out`). With `--detailed-exitcode`: 0 no changes,
  2 changes, 1 error (like `terraform plan -detailed-exitcode`).
- `show PLANFILE`: render a stored plan.
- `drift STACK`: for scheduled jobs; exit 2 with a report when reality moved
  (changes or unmanaged objects), 0 when converged.
- `import`: write a stack from a live cluster; planning it right away gives
  zero changes.

Every failure is one clear line (spec errors: `FILE:LINE:COL: ...` lines) and
exit code 1, never a traceback (set PROVISION_DEBUG=1 to see one).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from provision.cli.common import (
    PRUNE_HELP,
    Format,
    errors,
    fail,
    prune_scope,
    render_plan,
    warn_insecure,
)
from provision.plan.render.fit import DEFAULT_LIMIT, GITHUB_COMMENT_LIMIT

if TYPE_CHECKING:
    from provision.plan.workflow import LivePlan
    from provision.spec import Connection, SecretRef

# The rest of the planner (spec models, discovery, the action catalogue) is imported by
# the commands that run, not with this module: `provision plan --help` needs none of it.

LAB = typer.Option(None, "--lab", metavar="NAME", help="Use this local lab instead of the stack's connection.")
INSECURE = typer.Option(False, "--insecure", help="Do not verify the API's TLS certificate (prints a warning).")
FORMAT = typer.Option(Format.text, "--format", "-f", help="Output format.")
PRUNE = typer.Option(None, "--prune", metavar="[KIND|ADDRESS]", help=PRUNE_HELP)
MARKDOWN_LIMIT = typer.Option(
    DEFAULT_LIMIT, "--markdown-limit", min=0, metavar="BYTES",
    help=f"Cut a Markdown plan to at most this many bytes, at whole lines, with a note where the whole plan is "
         f"(GitHub refuses comments over {GITHUB_COMMENT_LIMIT} characters; GitLab notes allow 1000000). 0: no limit.")
FULL_PLAN_URL = typer.Option(
    None, "--full-plan-url", metavar="URL",
    help="Where reviewers find the whole plan (e.g. the CI run's artifact), linked from a cut Markdown plan.")



def _plan_document(stack: Path, lab: str | None, insecure: bool, prune: list[str] | None,
                   targets: list[str] | None) -> LivePlan:
    """Parse the options, then the shared workflow: load, discover, plan."""
    from provision.plan.workflow import plan_stack
    from provision.spec.addresses import Address

    parsed: list[Address] = []
    for text in targets or []:
        try:
            parsed.append(Address.parse(text))
        except ValueError as exc:
            raise fail(f"error: --target {text}: {exc}") from None
    override = connection_from_options(lab, None, None, None, None) if lab is not None else None
    return plan_stack(stack, override, insecure=insecure, prune=prune_scope(prune), targets=parsed,
                      on_endpoint=warn_insecure)


@errors
def plan_cmd(
    stack: Path = typer.Argument(..., help="Stack file (YAML)."),
    lab: str | None = LAB,
    out: Path | None = typer.Option(None, "--out", "-o", metavar="FILE",
                                    help="Store the plan in this file (for show/apply)."),
    fmt: Format = FORMAT,
    prune: list[str] | None = PRUNE,
    target: list[str] | None = typer.Option(None, "--target", metavar="ADDRESS",
                                            help="Limit to this address and what it needs (repeatable), "
                                                 'e.g. ceph.pool["vm-pool"].'),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode",
                                           help="Exit 0 without changes, 2 with changes, 1 on error."),
    insecure: bool = INSECURE,
    markdown_limit: int = MARKDOWN_LIMIT,
    full_plan_url: str | None = FULL_PLAN_URL,
) -> None:
    """Compare a stack with the live cluster and print the ordered plan."""
    result = _plan_document(stack, lab, insecure, prune, target)
    document, changed = result.document, result.changed
    if out is not None:
        from provision.plan import planfile as planfiles

        planfiles.save(document, out)
    typer.echo(render_plan(document, fmt, full_plan=None if out is None else str(out),
                           markdown_limit=markdown_limit, full_plan_url=full_plan_url), nl=False)
    if out is not None and fmt is Format.text:
        typer.echo(f"Saved the plan to {out}; run `provision apply {out}` to execute it.")
    if detailed_exitcode and changed:
        raise typer.Exit(2)


@errors
def show_cmd(
    planfile: Path = typer.Argument(..., help="Plan file written by `provision plan --out`."),
    fmt: Format = FORMAT,
    markdown_limit: int = MARKDOWN_LIMIT,
    full_plan_url: str | None = FULL_PLAN_URL,
) -> None:
    """Render a stored plan."""
    from provision.plan import planfile as planfiles

    typer.echo(render_plan(planfiles.load(planfile), fmt, full_plan=str(planfile), markdown_limit=markdown_limit,
                           full_plan_url=full_plan_url), nl=False)


@errors
def drift_cmd(
    stack: Path = typer.Argument(..., help="Stack file (YAML)."),
    lab: str | None = LAB,
    fmt: Format = FORMAT,
    prune: list[str] | None = PRUNE,
    insecure: bool = INSECURE,
    markdown_limit: int = MARKDOWN_LIMIT,
    full_plan_url: str | None = FULL_PLAN_URL,
) -> None:
    """Exit 2 with a report when the cluster drifted from the stack, 0 when it matches.

    Drift is what `plan --detailed-exitcode` calls changes (with the same `--prune`):
    objects the stack does not declare are listed, but are drift only where `--prune`
    would delete them (`ignore:` them to stop listing them). When part of the cluster
    could not be read (a node powered off), there is no "No drift": exit 1 and say what
    was not compared."""
    result = _plan_document(stack, lab, insecure, prune, None)
    document = result.document
    not_compared = list(document.get("not_compared") or [])
    report = render_plan(document, fmt, markdown_limit=markdown_limit, full_plan_url=full_plan_url)
    if result.changed:
        if fmt is Format.text:
            typer.echo(f"Drift detected: the cluster no longer matches {stack}.")
        typer.echo(report, nl=False)
        raise typer.Exit(2)
    if fmt is not Format.text:
        typer.echo(report, nl=False)
    elif not_compared:
        typer.echo(f"No drift in what could be compared with {stack}, but not everything could be:")
        for line in not_compared:
            typer.echo(f"  ! {line}")
    else:
        typer.echo(f"No drift: the cluster matches {stack}.")
    if fmt is Format.text:
        from provision.discover.ha_status import is_disarm_note

        for note in document.get("notes") or []:
            if is_disarm_note(note):  # not drift, but nobody should miss it
                typer.echo(f"warning: {note}")
    if fmt is Format.text and result.unmanaged:
        typer.echo(f"{result.unmanaged} object(s) exist that the stack does not declare (not drift; adopt them in "
                   "the stack, or list them under `ignore:`):")
        for item in document.get("unmanaged") or []:
            typer.echo(f"  ? {item['address']}")
    if not_compared:
        raise typer.Exit(1)


@errors
def import_cmd(
    out: Path = typer.Option(..., "--out", "-o", metavar="FILE", help="Stack file to write, e.g. stacks/prod.yaml."),
    lab: str | None = typer.Option(None, "--lab", help="Import a local lab (default: the lab 'default' "
                                   "when no --url is given)."),
    url: str | None = typer.Option(None, "--url", help="API URL of a real cluster, e.g. https://10.0.0.11:8006."),
    token_env: str | None = typer.Option(None, "--token-env", help="Environment variable holding the API token "
                                                                   "(USER@REALM!TOKENID=SECRET)."),
    ca_file: Path | None = typer.Option(None, "--ca-file", help="CA certificate (PEM) of the cluster."),
    fingerprint: str | None = typer.Option(None, "--fingerprint", help="Pin the node certificate (SHA-256)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    insecure: bool = INSECURE,
) -> None:
    """Write a stack file from a live cluster (comments mark defaults left out)."""
    from provision.discover import ApiClient, discover, from_lab, from_url
    from provision.plan.workflow import api_workers
    from provision.spec import SecretRef

    if lab is not None and url is not None:
        raise fail("error: give either --lab NAME or --url URL (with --token-env VAR), not both")
    if lab is None and url is None:
        lab = "default"  # the quickstart's lab, as a stack's `connection: {lab: default}`
    if out.exists() and not force:
        raise fail(f"error: {out} exists (use --force to overwrite)")
    if url is not None and not token_env:
        raise fail("error: --url needs --token-env VAR (the token is never passed on the command line)")
    connection = connection_from_options(lab, url, token_env, ca_file, fingerprint)
    if connection.api is not None:
        assert url is not None and token_env is not None
        endpoint = from_url(url, SecretRef(env=token_env), ca_file=str(ca_file) if ca_file else None,
                            fingerprint=fingerprint, insecure=insecure)
        source = endpoint.describe()
    else:
        assert lab is not None
        endpoint = from_lab(lab, insecure=insecure)
        source = f"lab {lab!r}"
    warn_insecure(endpoint)
    found = discover(ApiClient.for_endpoint(endpoint), workers=api_workers())
    if not found.observed.clustered:
        raise fail(f"error: nothing to import: the nodes of {source} are not a cluster yet "
                    "(write the stack by hand, e.g. from stacks/lab.yaml)")
    from provision.discover.export import to_stack  # ruamel, which only `import` needs

    text = to_stack(found.cluster, connection, source=source, keep_secrets=_earlier_secrets(out))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"error: cannot write {out}: {exc.strerror or exc}") from None
    typer.echo(f"Wrote {out} ({len(found.cluster.nodes)} nodes, {found.requests} API requests).")
    for note in found.observed.notes:
        typer.echo(f"note: {note}")


def _earlier_secrets(out: Path) -> dict[tuple[str, str], SecretRef]:
    """The secret references of the stack a re-import (`--force`) replaces, so that the
    variables a deployment already sets keep their names; none when it does not load."""
    if not out.is_file():
        return {}
    from provision.discover.export import secret_names
    from provision.spec import SpecError, load_stack

    try:
        return secret_names(load_stack(out).cluster)
    except SpecError:
        typer.echo(f"note: {out} does not load as a stack; secret variables get new names", err=True)
        return {}


_CONNECTION_OPTIONS = {"url": "--url", "fingerprint": "--fingerprint", "ca_file": "--ca-file", "token": "--token-env",
                   "lab": "--lab"}


def connection_from_options(lab: str | None, url: str | None, token_env: str | None, ca_file: Path | None,
                       fingerprint: str | None) -> Connection:
    """A `connection` from command-line options (what `import` writes; `--lab` of
    plan/drift), checked before any request: a malformed option is one line naming
    it, not a pydantic report."""
    from pydantic import ValidationError

    from provision.spec import Connection

    given: dict[str, Any] = {"lab": lab} if url is None else {"api": {
        "url": url, "token": {"env": token_env},
        **({"ca_file": str(ca_file)} if ca_file else {}),
        **({"fingerprint": fingerprint} if fingerprint else {}),
    }}
    try:
        return Connection.model_validate(given)
    except ValidationError as exc:
        err = exc.errors()[0]
        option = next((_CONNECTION_OPTIONS[str(p)] for p in reversed(err["loc"])
                       if str(p) in _CONNECTION_OPTIONS), None)
        value = {"--url": url, "--fingerprint": fingerprint, "--ca-file": ca_file, "--token-env": token_env,
                 "--lab": lab}.get(option or "")
        raise fail(f"error: {option} {value}: {err['msg']}" if option else f"error: {err['msg']}") from None


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)
    app.command("show")(show_cmd)
    app.command("drift")(drift_cmd)
    app.command("import")(import_cmd)
