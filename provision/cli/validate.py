"""`provision validate`, `provision rules` and `provision schema`.

`validate` loads stack files and runs the best-practice rules. Every problem, a
YAML error, a wrong type or a rule finding, is reported the same way, with a
position in the file, in one of four formats:

- `text` (default): `FILE:LINE:COL: ADDRESS: message (hint) [severity ID]`, coloured
  on a terminal, then a cluster summary (when the stack has no errors) and one
  count line per stack.
- `json`: a list of objects, one per finding, sorted like the text output:
  `{"file", "line", "column", "address", "rule", "severity", "title", "message",
  "hint"}`. `rule` is a rule id or `SPEC` for loading errors; `severity` is
  `error|warning|info`; `hint` may be null.
- `sarif`: SARIF 2.1.0 for GitHub code scanning (`upload-sarif`).
- `github`: workflow commands (`::error file=F,line=L,col=C,title=ID::message`)
  that GitHub Actions shows as annotations on the pull request.

Exit status: 1 when any stack has an error (or, with `--strict`, a warning), else 0.
Never 2: in this project 2 means "changes present" (plan, drift). Usage errors of
these commands therefore exit 1 as well.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from provision.rules import Finding, Rule, Severity
    from provision.spec import Cluster, Diagnostic, LoadedStack

# The spec models, the rules and the CRM are imported by the functions that use them,
# not with this module: `provision validate --help` needs none of them.

TOOL_NAME = "pve-provision"
SPEC_RULE = "SPEC"
SPEC_TITLE = "Stack file does not load"
SPEC_HELP = (
    "The stack file could not be read, parsed or validated: YAML syntax, an unknown "
    "or misspelt key, a wrong type, a dangling reference (node, pool, group, file "
    "system), an address outside its network, or an HA feature of the other PVE "
    "version. The message says what is wrong and the hint how to fix it."
)
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
JSON_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
# GitHub code scanning reads `problem.severity`: error, warning or recommendation.
_GITHUB_PROBLEM = {"error": "error", "warning": "warning", "info": "recommendation"}
_GITHUB_COMMAND = {"error": "error", "warning": "warning", "info": "notice"}
_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


@dataclass(frozen=True)
class Item:
    """One reported problem with its position: a rule finding or a loading error."""

    file: str
    line: int
    column: int
    address: str
    rule: str
    severity: Severity
    title: str
    message: str
    hint: str | None

    def text(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.address}: {self.message}{hint} [{self.severity} {self.rule}]"


@dataclass
class StackResult:
    """What validating one stack file produced."""

    file: str
    stack: LoadedStack | None
    items: list[Item]

    def count(self, severity: Severity) -> int:
        return sum(1 for i in self.items if i.severity == severity)


# -- running ---------------------------------------------------------------------
def _from_diagnostic(d: Diagnostic) -> Item:
    return Item(d.file, d.line, d.col, d.address, SPEC_RULE, "error", SPEC_TITLE, d.message, d.hint)


def _from_finding(stack: LoadedStack, name: str, f: Finding) -> Item:
    from provision.rules import get_rule

    line, col = stack.position(f.loc)
    r = get_rule(f.rule_id)
    return Item(name, line, col, stack.address(f.loc), f.rule_id, f.severity, r.title if r else f.rule_id,
                f.message, f.hint)


def validate_file(path: Path, disable: Iterable[str] = ()) -> StackResult:
    """Load one stack and run the rules; never raises for a bad stack."""
    from provision.rules import run
    from provision.spec import SpecError, load_stack

    name = str(path)
    try:
        stack = load_stack(path)
    except SpecError as exc:
        return StackResult(name, None, sorted((_from_diagnostic(d) for d in exc.diagnostics), key=_sort_key))
    items = [_from_finding(stack, name, f) for f in run(stack.cluster, disable)]
    return StackResult(name, stack, sorted(items, key=_sort_key))


def _sort_key(item: Item) -> tuple[int, int, int, str, str]:
    return (item.line, item.column, _SEVERITY_ORDER[item.severity], item.rule, item.message)


def exit_code(results: Sequence[StackResult], strict: bool) -> int:
    bad: set[str] = {"error", "warning"} if strict else {"error"}
    return 1 if any(i.severity in bad for r in results for i in r.items) else 0


def _parse_disable(values: Sequence[str]) -> list[str]:
    from provision.rules import get_rule

    ids = [v.strip().upper() for value in values for v in value.split(",") if v.strip()]
    unknown = sorted({i for i in ids if get_rule(i) is None})
    if unknown:
        raise _exit1(typer.BadParameter(
            f"unknown rule id(s) {', '.join(unknown)}; `provision rules` lists them", param_hint="'--disable'"
        ))
    return ids


# typer may vendor click (typer._click) or use click itself: find its UsageError.
_UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def _exit1(exc: Exception) -> Exception:
    """Make a usage error exit 1 (click's default is 2, which means "changes" here)."""
    exc.exit_code = 1  # type: ignore[attr-defined]
    return exc


# -- text output ---------------------------------------------------------------------
def _console(stream: Any = None) -> Console:
    stream = stream or sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    return Console(file=stream, force_terminal=tty, no_color=not tty, highlight=False, soft_wrap=True,
                   emoji=False)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def quorum_facts(c: Cluster) -> tuple[int, int, int]:
    """(expected votes, quorum, node failures tolerated while the QDevice is up)."""
    from provision.crm import Member, expected_votes, quorum_threshold
    from provision.crm import QDevice as CrmQDevice

    members = [Member(n.name, n.nodeid, n.votes) for n in c.nodes]
    qd = c.quorum.qdevice
    crm_qd = CrmQDevice(algorithm=qd.algorithm, tie_breaker=qd.tie_breaker) if qd else None
    expected = expected_votes(members, crm_qd)
    quorum = quorum_threshold(expected)
    # Remove nodes, smallest vote first, while the rest keeps quorum.
    have, tolerated = expected, 0
    for votes in sorted(n.votes for n in c.nodes):
        if have - votes < quorum:
            break
        have -= votes
        tolerated += 1
    return expected, quorum, tolerated


def summary_lines(c: Cluster) -> list[tuple[str, str]]:
    """The cluster at a glance, as (section, rich-markup line) pairs: the first thing
    `make demo` shows, so it reads like an admin's description of the cluster."""
    from provision.rules.storage import is_shared
    from provision.rules.topology import bonds_under, carrier, primary_link

    out: list[tuple[str, str]] = []

    def add(section: str, line: str) -> None:
        out.append((section, line))

    # Nodes
    width = max(len(n.name) for n in c.nodes)
    for n in c.nodes:
        cap = f"{n.capacity.memory_mib // 1024} GiB, {n.capacity.cores} cores" if n.capacity else "capacity unknown"
        votes = "" if n.votes == 1 else f", {_plural(n.votes, 'vote')}"
        add("Nodes", f"{escape(n.name):<{width}}  id {n.nodeid}  {n.address}  {cap}{votes}")
    # Quorum
    expected, quorum, tolerated = quorum_facts(c)
    qd = c.quorum.qdevice
    qd_text = f"QDevice {escape(qd.host)} ({qd.algorithm})" if qd else "no QDevice"
    add("Quorum", f"{_plural(expected, 'vote')}, quorum {quorum}: survives {_plural(tolerated, 'node failure')}"
        f"; {qd_text}")
    # Corosync
    primary = primary_link(c.corosync).number if len(c.corosync.links) > 1 else None
    for link in sorted(c.corosync.links, key=lambda x: x.number):
        carriers: set[str] = set()
        for node in c.nodes:
            ip = link.addresses.get(node.name)
            found = carrier(node, ip) if ip is not None else None
            if found is not None:
                bonds = bonds_under(node, found[1].name)
                carriers.add(found[1].name + (f" ({bonds[0][1].mode})" if bonds else ""))
        prio = f"  priority {link.priority}" if link.priority is not None else ""
        via = f"  via {', '.join(sorted(carriers))}" if carriers else ""
        mark = "  [bold]in use[/bold]" if link.number == primary else ""
        add("Corosync", f"link {link.number}  {link.network}{prio}{escape(via)}{mark}")
    add("Corosync", f"crypto {c.corosync.crypto_cipher}/{c.corosync.crypto_hash}")
    # Ceph
    ceph = c.ceph
    if ceph is None:
        add("Ceph", "not used")
    else:
        nets = f"public {ceph.public_network}"
        nets += f", cluster {ceph.cluster_network}" if ceph.cluster_network else " (also cluster traffic)"
        add("Ceph", nets)
        daemons = [f"MON {' '.join(ceph.mons) or '-'}", f"MGR {' '.join(ceph.mgrs) or '-'}"]
        if ceph.mdss:
            daemons.append(f"MDS {' '.join(ceph.mdss)}")
        add("Ceph", escape("  ·  ".join(daemons)))
        per_node = Counter(o.node for o in ceph.osds)
        classes = Counter(o.device_class or "auto" for o in ceph.osds)
        if ceph.osds:
            spread = ", ".join(f"{v} {k}" for k, v in sorted(classes.items()))
            add("Ceph", f"{_plural(len(ceph.osds), 'OSD')} on {_plural(len(per_node), 'node')} ({spread})")
        else:
            add("Ceph", "no OSDs")
        hosts = len(per_node)
        for p in ceph.pools:
            survive = max(0, min(hosts, p.size) - p.min_size)
            add("Ceph", f"pool {escape(p.name)}  size {p.size}/min {p.min_size}  {p.application}  "
                f"autoscale {p.pg_autoscale_mode}  keeps I/O through {_plural(survive, 'host failure')}")
        for fs in ceph.filesystems:
            add("Ceph", f"cephfs {escape(fs.name)}  pg_num {fs.pg_num}")
    # Storage
    if not c.storage:
        add("Storage", "none declared")
    swidth = max((len(st.name) for st in c.storage), default=0)
    for st in c.storage:
        shared = "shared" if is_shared(st) else "local"
        content = ",".join(st.content) or "default content"
        flags = " (disabled)" if st.disable else ""
        add("Storage", f"{escape(st.name):<{swidth}}  {st.type:<7} {shared:<6}  {content}{flags}")
    # HA
    ha = c.ha
    if not ha.resources:
        add("HA", "no HA resources")
    else:
        states = Counter(r.state for r in ha.resources)
        state_text = ", ".join(f"{v} {k}" for k, v in sorted(states.items()))
        policy = f", shutdown policy {ha.shutdown_policy}" if ha.shutdown_policy else ""
        add("HA", f"{_plural(len(ha.resources), 'resource')} ({state_text}), scheduler {ha.crs}{policy}")
    for g in ha.groups:
        members = " ".join(f"{n}:{p}" for n, p in g.nodes.items())
        sids = " ".join(r.sid for r in ha.resources if r.group == g.name) or "no resources"
        flags = "".join([" restricted" if g.restricted else "", " nofailback" if g.nofailback else ""])
        add("HA", escape(f"group {g.name}{flags}: {members} -> {sids}"))
    for r in ha.rules:
        off = " (disabled)" if r.disable else ""
        if r.type == "node-affinity":
            members = " ".join(f"{n}:{p}" for n, p in r.nodes.items())
            strict = " strict" if r.strict else ""
            add("HA", escape(f"rule {r.name}{strict}{off}: {' '.join(r.resources)} on {members}"))
        else:
            how = "together" if r.affinity == "positive" else "apart"
            add("HA", escape(f"rule {r.name}{off}: keep {' '.join(r.resources)} {how}"))
    return out


def print_summary(console: Console, c: Cluster) -> None:
    """Print the cluster summary block."""
    console.print(f"[bold]{escape(c.name)}[/bold] — Proxmox VE {c.pve_version}, {_plural(len(c.nodes), 'node')}")
    last = None
    for section, line in summary_lines(c):
        label = section if section != last else ""
        last = section
        console.print(f"  [bold cyan]{label:<9}[/bold cyan] {line}")


def count_line(result: StackResult) -> str:
    counts = [_plural(result.count("error"), "error"), _plural(result.count("warning"), "warning"),
              _plural(result.count("info"), "info", "infos")]
    facts: list[str] = []
    if result.stack is not None:
        c = result.stack.cluster
        expected, quorum, _ = quorum_facts(c)
        facts = [_plural(len(c.nodes), "node"), f"{_plural(expected, 'vote')} (quorum {quorum})",
                 _plural(len(c.corosync.links), "corosync link")]
        if c.ceph is not None:
            facts += [_plural(len(c.ceph.mons), "MON"), _plural(len(c.ceph.osds), "OSD"),
                      _plural(len(c.ceph.pools), "pool")]
        facts += [_plural(len(c.storage), "storage", "storages"), _plural(len(c.ha.resources), "HA resource")]
    return f"{result.file}: {', '.join(counts)}" + (f"; {', '.join(facts)}" if facts else "")


def print_text(results: Sequence[StackResult], console: Console, summary: bool) -> None:
    for n, result in enumerate(results):
        if n:
            console.print()
        if summary and result.stack is not None and not result.count("error"):
            print_summary(console, result.stack.cluster)
            console.print()
        for item in result.items:
            style = _STYLE[item.severity]
            hint = f" [dim]({escape(item.hint)})[/dim]" if item.hint else ""
            console.print(f"[bold]{escape(item.file)}:{item.line}:{item.column}:[/bold] {escape(item.address)}: "
                          f"{escape(item.message)}{hint} [{style}]\\[{item.severity} {item.rule}][/{style}]")
        worst = "error" if result.count("error") else "warning" if result.count("warning") else None
        style = _STYLE[worst] if worst else "green"
        console.print(f"[{style}]{escape(count_line(result))}[/{style}]")


# -- machine formats ---------------------------------------------------------------------
def to_json(results: Sequence[StackResult]) -> list[dict[str, Any]]:
    return [asdict(i) for r in results for i in r.items]


def _uri(file: str) -> str:
    """A SARIF artifact URI: relative to the working directory (GitHub resolves it
    against the checkout), or a file URI for paths outside it."""
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return path.as_uri()
    return path.as_posix()


def _sarif_rule(r: Rule) -> dict[str, Any]:
    help_md = r.why + (f"\n\n**Fix:** {r.fix}" if r.fix else "")
    return {
        "id": r.id,
        "name": "".join(w.capitalize() for w in r.check.__name__.split("_")),
        "shortDescription": {"text": r.title},
        "fullDescription": {"text": " ".join(r.why.split())},
        "help": {"text": " ".join(r.why.split()) + (f" Fix: {' '.join(r.fix.split())}" if r.fix else ""),
                 "markdown": help_md},
        "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
        "properties": {"tags": [r.area.lower()], "problem.severity": _GITHUB_PROBLEM[r.severity]},
    }


def to_sarif(results: Sequence[StackResult], version: str) -> dict[str, Any]:
    from provision.rules import all_rules

    spec_rule: dict[str, Any] = {
        "id": SPEC_RULE,
        "name": "StackDoesNotLoad",
        "shortDescription": {"text": SPEC_TITLE},
        "fullDescription": {"text": SPEC_HELP},
        "help": {"text": SPEC_HELP, "markdown": SPEC_HELP},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["spec"], "problem.severity": "error"},
    }
    rules = [spec_rule] + [_sarif_rule(r) for r in all_rules()]
    index = {r["id"]: i for i, r in enumerate(rules)}
    sarif_results = []
    for r in results:
        for item in r.items:
            text = item.message + (f" ({item.hint})" if item.hint else "")
            sarif_results.append({
                "ruleId": item.rule,
                "ruleIndex": index[item.rule],
                "level": _SARIF_LEVEL[item.severity],
                "message": {"text": text},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(item.file)},
                        "region": {"startLine": item.line, "startColumn": item.column},
                    },
                    "logicalLocations": [{"fullyQualifiedName": item.address, "kind": "member"}],
                }],
            })
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "version": version, "rules": rules}},
            "results": sarif_results,
            "columnKind": "unicodeCodePoints",
        }],
    }


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def to_github(results: Sequence[StackResult]) -> list[str]:
    lines = []
    for r in results:
        for i in r.items:
            msg = f"{i.address}: {i.message}" + (f" ({i.hint})" if i.hint else "")
            lines.append(f"::{_GITHUB_COMMAND[i.severity]} file={_gh_prop(i.file)},line={i.line},col={i.column},"
                         f"title={_gh_prop(i.rule + ' ' + i.title)}::{_gh_data(msg)}")
    return lines


# -- JSON Schema ---------------------------------------------------------------------
def stack_schema() -> dict[str, Any]:
    """The JSON Schema of a stack file, for editors (YAML language server) and CI.

    Written as draft-07 (`definitions`), the newest draft the YAML language server
    and VS Code fully support; pydantic's output uses nothing newer."""
    from provision.spec import Cluster

    schema = _draft7_refs(Cluster.model_json_schema(ref_template="#/definitions/{model}"))
    definitions = schema.pop("$defs", {})
    schema.pop("title", None)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "pve-provision stack",
        **schema,
        "description": "A Proxmox VE cluster described for pve-provision (stacks/*.yaml).",
        "definitions": definitions,
    }


# pydantic writes a bound of an optional number (`mtu: Int | None = Field(ge=1280)`) into
# the union's member under its own name, which JSON Schema does not know; an editor
# would then accept any MTU. These are the JSON Schema words for them.
_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def _draft7_refs(node: Any) -> Any:
    """Draft-07 ignores keywords next to `$ref`; wrap such refs in `allOf` so the
    field descriptions still reach the editor's hover text. Bounds get their JSON
    Schema names (`_BOUNDS`)."""
    if isinstance(node, dict):
        numeric = node.get("type") in ("integer", "number")
        node = {(_BOUNDS.get(k, k) if numeric else k): _draft7_refs(v) for k, v in node.items()}
        if "$ref" in node and len(node) > 1:
            ref = node.pop("$ref")
            node["allOf"] = [{"$ref": ref}]
        return node
    if isinstance(node, list):
        return [_draft7_refs(v) for v in node]
    return node


# -- commands ---------------------------------------------------------------------
class _Exit1Command(typer.core.TyperCommand):
    """Usage errors exit 1, not click's 2: 2 means "changes present" in this project."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _UsageError as exc:
            raise _exit1(exc) from None


def validate(
    stacks: list[Path] = typer.Argument(None, metavar="STACK", help="Stack files to validate.",
                                        show_default=False),
    output: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f", help="Output format."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
    disable: list[str] = typer.Option([], "--disable", help="Rule ids to skip, comma-separated or repeated."),
    summary: bool = typer.Option(True, "--summary/--no-summary", help="Print the cluster summary (text format)."),
) -> None:
    """Load stack files, cross-check them and run the best-practice rules.

    Text findings read FILE:LINE:COL: ADDRESS: message (hint), followed by the
    severity and rule id. json is a list of objects with file, line, column, address,
    rule, severity, title, message and hint; sarif is SARIF 2.1.0 for code scanning;
    github prints workflow annotations.

    Exit 1 on errors (and on warnings with --strict), else 0.
    """
    if not stacks:
        raise _exit1(typer.BadParameter("give at least one stack file, e.g. provision validate stacks/lab.yaml",
                                        param_hint="'STACK'"))
    ids = _parse_disable(disable)
    results = [validate_file(p, ids) for p in stacks]
    if output is OutputFormat.text:
        print_text(results, _console(), summary)
    elif output is OutputFormat.json:
        sys.stdout.write(json.dumps(to_json(results), indent=2) + "\n")
    elif output is OutputFormat.sarif:
        from provision.version import tool_version

        sys.stdout.write(json.dumps(to_sarif(results, tool_version()), indent=2) + "\n")
    else:
        for line in to_github(results):
            sys.stdout.write(line + "\n")
    raise typer.Exit(exit_code(results, strict))


def rules_command(
    as_markdown: bool = typer.Option(False, "--markdown", help="Print the catalogue as Markdown (docs/rules.md)."),
) -> None:
    """List the rule catalogue: id, severity and title of every check."""
    from provision.rules import all_rules
    from provision.rules.catalogue import markdown

    if as_markdown:
        sys.stdout.write(markdown())
        return
    console = _console()
    for r in all_rules():
        style = _STYLE[r.severity]
        console.print(f"{r.id:<12} [{style}]{r.severity:<8}[/{style}] {escape(r.title)}")
    console.print(f"{_plural(len(all_rules()), 'rule')}; details: docs/rules.md or `provision rules --markdown`")


def schema_command(
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to FILE instead of standard output."),
) -> None:
    """Print the JSON Schema of a stack file, for editor completion.

    Save it next to your stacks and add this first line to a stack file so the YAML
    language server (VS Code YAML extension, neovim yamlls) completes and checks it:

        # yaml-language-server: $schema=./stack.schema.json
    """
    text = json.dumps(stack_schema(), indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"{out}: cannot write: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {out}", err=True)


def register(app: typer.Typer) -> None:
    """Add `validate`, `rules` and `schema` to the main app."""
    app.command("validate", cls=_Exit1Command)(validate)
    app.command("rules", cls=_Exit1Command)(rules_command)
    app.command("schema", cls=_Exit1Command)(schema_command)


__all__ = [
    "Item",
    "OutputFormat",
    "StackResult",
    "count_line",
    "exit_code",
    "print_summary",
    "register",
    "stack_schema",
    "summary_lines",
    "to_github",
    "to_json",
    "to_sarif",
    "validate_file",
]
