"""Load stack files into `Cluster` models with errors that point at the YAML.

Every problem, whether YAML syntax, a wrong type, an unknown key or a dangling
reference, becomes a `Diagnostic` printed as
`FILE:LINE:COL: ADDRESS: what is wrong (hint)`. Callers never see a traceback.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from provision.spec import suggest
from provision.spec.base import PATTERN_TEXT
from provision.spec.cluster import Cluster
from provision.spec.consistency import Loc, check
from provision.spec.fastcompose import compose_fast, load_fast
from provision.spec.limits import MAX_DIAGNOSTICS, MAX_FILE_BYTES
from provision.spec.secrets import secret_context
from provision.spec.stackfile import StackReadError, read_stack_file

Position = tuple[int, int]


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a stack file, with a 1-based position."""

    file: str
    line: int
    col: int
    address: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.file}:{self.line}:{self.col}: {self.address}: {self.message}{hint}"


class SpecError(Exception):
    """A stack file could not be loaded; `diagnostics` says why, each with a position."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class StackText:
    """A stack's text and its YAML tree with every key's position, composed on first use:
    a stack without findings never needs positions, and composing them is most of the
    parse of a large stack."""

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self._tree: list[Any] = []

    @property
    def tree(self) -> Any:
        if not self._tree:
            self._tree.append(_parse(self.text, self.name))
        return self._tree[0]

    def position(self, loc: Loc) -> Position:
        return locate(self.tree, loc)

    def address(self, loc: Loc) -> str:
        return readable_address(self.tree, loc)


@dataclass(frozen=True)
class LoadedStack:
    """A loaded stack: the model plus its text, kept to locate later findings."""

    path: Path
    cluster: Cluster
    source: StackText = field(repr=False, compare=False)

    @property
    def tree(self) -> Any:
        return self.source.tree

    def position(self, loc: Loc) -> Position:
        return self.source.position(loc)

    def address(self, loc: Loc) -> str:
        return self.source.address(loc)


def load_stack(path: str | Path, *, secrets_dir: Path | None = None,
               on_parsed: Callable[[Any, dict[str, Path]], None] | None = None) -> LoadedStack:
    """Parse, validate and cross-check one stack file. Raises SpecError.

    `secrets_dir` confines `file:` secret references (see `provision.spec.secrets`);
    by default it is `$PROVISION_SECRETS_DIR`, else the stack file's directory.
    `on_parsed` sees the parsed YAML (plain dicts and lists, not yet validated) and the
    validation context (where `file:` secrets may be) before validation starts: the
    planner starts discovery with the stack's `connection` while the rest is validated."""
    path = Path(path)
    name = str(path)
    try:
        text = read_stack_file(path)
    except StackReadError as exc:
        line, col, message = _position_prefix(str(exc))
        raise SpecError([Diagnostic(name, line, col, "stack", message)]) from None
    return load_text(text, name, path, secrets_dir=secrets_dir, on_parsed=on_parsed)


def _position_prefix(message: str) -> tuple[int, int, str]:
    """Split an optional `LINE:COL: ` prefix off a read error."""
    head, sep, rest = message.partition(": ")
    line, colon, col = head.partition(":")
    if sep and colon and line.isdigit() and col.isdigit():
        return int(line), int(col), rest
    return 1, 1, message


def load_text(text: str, name: str = "<string>", path: Path | None = None, *,
              secrets_dir: Path | None = None,
              on_parsed: Callable[[Any, dict[str, Path]], None] | None = None) -> LoadedStack:
    """Like `load_stack`, for text already in memory (`name` is used in messages).

    Relative `file:` secrets resolve against `path`'s directory, or the working
    directory when there is no path."""
    if len(text) > MAX_FILE_BYTES:
        raise SpecError([Diagnostic(name, 1, 1, "stack", f"text is larger than "
                                    f"{MAX_FILE_BYTES // (1024 * 1024)} MiB; no cluster needs that")])
    data = load_fast(text)
    stack = StackText(text, name)
    if data is None:  # not the plain subset: ruamel parses it (and words its errors)
        from ruamel.yaml.comments import CommentedMap

        tree = stack.tree
        if tree is None:
            raise SpecError([Diagnostic(name, 1, 1, "stack", "file is empty",
                                        "a stack starts with name, pve_version, nodes and corosync")])
        if not isinstance(tree, CommentedMap):
            raise SpecError([Diagnostic(name, 1, 1, "stack", f"expected a mapping at the top, found "
                                        f"{_yaml_kind(tree)}", "a stack is a mapping: name: ..., nodes: [...]")])
        data = _plain(tree)
    base = (path.parent if path is not None else Path.cwd()).absolute()
    context = secret_context(base, secrets_dir)
    if on_parsed is not None:
        on_parsed(data, context)
    try:
        cluster = Cluster.model_validate(data, context=context)
    except ValidationError as exc:
        raise SpecError(_capped(_validation_diagnostics(exc, stack.tree, name))) from None
    issues = check(cluster)
    if issues:
        raise SpecError(_capped([
            Diagnostic(name, *stack.position(i.loc), stack.address(i.loc), i.message, i.hint)
            for i in issues[:MAX_DIAGNOSTICS + 1]
        ]))
    return LoadedStack(path or Path(name), cluster, stack)


def _parse(text: str, name: str) -> Any:
    """The round-trip YAML tree of `text`; every parser failure becomes a Diagnostic.

    Plain stacks take libyaml's fast path (`fastcompose`); anything it declines,
    including every error, is parsed by ruamel, which words the diagnostics."""
    fast = compose_fast(text)
    if fast is not None:
        return fast
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from provision.spec.yamlread import stack_yaml

    try:
        return stack_yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or "invalid YAML").strip()
        hint = None
        if "duplicate key" in problem or "found duplicate key" in str(exc):
            problem = f"duplicate key: {problem}"
            hint = "each key may appear once in a mapping"
        elif exc.context and exc.context_mark and exc.context_mark is not mark:
            # Where the unfinished construct began is usually where the typo is.
            cm = exc.context_mark
            hint = f"{exc.context.strip()} that starts at line {cm.line + 1}, column {cm.column + 1}"
        raise SpecError([Diagnostic(name, line, col, "yaml", _one_line(problem), hint)]) from None
    except YAMLError as exc:
        raise SpecError([Diagnostic(name, 1, 1, "yaml", _one_line(str(exc)))]) from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        # The composer's limits should leave nothing to reach here; if ruamel still
        # trips over an input, the user gets one line, not a traceback.
        raise SpecError([Diagnostic(name, 1, 1, "yaml", f"cannot parse YAML: {type(exc).__name__}: "
                                    f"{_one_line(str(exc))[:200]}")]) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _capped(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """At most MAX_DIAGNOSTICS problems, then one line that says how many were left out."""
    if len(diagnostics) <= MAX_DIAGNOSTICS:
        return diagnostics
    last = diagnostics[MAX_DIAGNOSTICS]
    return [*diagnostics[:MAX_DIAGNOSTICS],
            Diagnostic(last.file, last.line, last.col, "stack", "too many problems; the rest are not listed",
                       "fix these first")]


# -- YAML tree helpers ---------------------------------------------------------
def _plain(node: Any) -> Any:
    """Convert ruamel's round-trip types into plain Python values for pydantic."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _yaml_kind(node: Any) -> str:
    if isinstance(node, list):
        return "a list"
    if isinstance(node, str):
        return "a string"
    return type(node).__name__


def _walk(tree: Any, loc: Loc) -> tuple[list[tuple[Any, str | int]], Loc]:
    """Follow `loc` through the YAML tree as far as it goes. Returns the steps taken
    (container, key) and the part of `loc` that had no counterpart in the data
    (pydantic adds union tags, and missing fields have no node)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq  # a tree exists: ruamel is loaded

    steps: list[tuple[Any, str | int]] = []
    node = tree
    rest = list(loc)
    while rest:
        key = rest[0]
        in_map = isinstance(node, CommentedMap) and key in node
        in_seq = isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node)
        if in_map or in_seq:
            steps.append((node, key))
            node = node[key]
            rest.pop(0)
        elif isinstance(node, (CommentedMap, CommentedSeq)) and isinstance(key, str) and len(rest) > 1:
            rest.pop(0)  # a union member or discriminator tag that is not in the data
        elif isinstance(node, CommentedMap) and node.get("type") == key:
            rest.pop(0)  # a trailing discriminator tag (model-level errors of a union member)
        else:
            break
    return steps, tuple(rest)


def locate(tree: Any, loc: Loc) -> Position:
    """1-based (line, col) of the value at `loc`, or of the deepest existing parent."""
    steps, rest = _walk(tree, loc)
    if not steps:
        return (1, 1)
    container, key = steps[-1]
    from ruamel.yaml.comments import CommentedMap

    try:
        if isinstance(container, CommentedMap):
            # Point at the key: that is where an admin looks for "nodeid: x".
            line, col = container.lc.key(key)
            if not rest:
                return (line + 1, col + 1)
            return (line + 1, col + 1)
        line, col = container.lc.item(key)
        return (line + 1, col + 1)
    except (KeyError, IndexError, TypeError, AttributeError):
        return (1, 1)


def readable_address(tree: Any, loc: Loc) -> str:
    """`nodes["pve01"].interfaces["bond0"].mtu` from `("nodes", 0, "interfaces", 3, "mtu")`."""
    steps, rest = _walk(tree, loc)
    parts: list[str] = []
    for container, key in steps:
        if isinstance(key, int):
            item = container[key]
            label = None
            if isinstance(item, dict):
                for field in ("name", "sid", "number"):
                    if field in item:
                        label = item[field]
                        break
                if label is None and "node" in item and "device" in item:
                    label = f"{item['node']}:{item['device']}"
            # json quoting keeps a name with a newline or a quote on one line of the error
            parts[-1] += (f"[{json.dumps(label, ensure_ascii=False)}]" if isinstance(label, str)
                          else f"[{label if label is not None else key}]")
        else:
            parts.append(str(key))
    for key in rest:
        if isinstance(key, int):
            if parts:
                parts[-1] += f"[{key}]"
        else:
            parts.append(str(key))
    return ".".join(parts) or "stack"


# -- pydantic error translation ----------------------------------------------------
def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _model_at(model: Any, loc: Loc) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at `loc[-1]` (for 'did you mean')."""
    tp: Any = model
    for key in loc:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if not isinstance(key, str) or key not in tp.model_fields:
                return None
            tp = tp.model_fields[key].annotation
        elif origin in (list, tuple, set, frozenset) and isinstance(key, int):
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        elif origin in (typing.Union, types.UnionType):
            members = [_unwrap(m) for m in typing.get_args(tp) if m is not type(None)]
            chosen = None
            for m in members:
                if isinstance(m, type) and issubclass(m, BaseModel):
                    tag = m.model_fields.get("type")
                    args = typing.get_args(tag.annotation) if tag else ()
                    if key in args or key == m.__name__:
                        chosen = m
                        break
            if chosen is None:
                models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
                if len(models) != 1:
                    return None
                chosen = models[0]
                tp = chosen
                if isinstance(key, str) and key in chosen.model_fields:
                    tp = chosen.model_fields[key].annotation
                    continue
                return None
            tp = chosen
        else:
            return None
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        models = [m for m in typing.get_args(tp) if isinstance(m, type) and issubclass(m, BaseModel)]
        tp = models[0] if len(models) == 1 else None
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _inside_secret(loc: Loc) -> bool:
    """True for a field of a SecretRef (`token.env`), whose input must never be echoed."""
    from provision.spec.secrets import SecretRef

    return len(loc) > 1 and _model_at(Cluster, loc[:-1]) is SecretRef


def _validation_diagnostics(exc: ValidationError, tree: Any, name: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: set[tuple[int, int, str]] = set()
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(err["loc"])
        kind = err["type"]
        msg = str(err["msg"])
        hint: str | None = None
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if kind == "extra_forbidden":
            bad = str(loc[-1])
            msg = f"unknown key {bad!r}"
            owner = _model_at(Cluster, loc[:-1])
            if owner is not None:
                fields = sorted(owner.model_fields)
                close = difflib.get_close_matches(bad, fields, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(fields)}"
        elif kind == "missing":
            msg = f"missing required key {loc[-1]!r}"
        elif kind == "union_tag_invalid":
            loc = (*loc, "type")  # point at the bad value, not at the whole entry
            ctx = err.get("ctx", {})
            msg = f"unknown {str(ctx.get('discriminator', 'type')).strip(chr(39))} {ctx.get('tag')!r}"
            allowed = re.findall(r"'([^']*)'", str(ctx.get("expected_tags")))
            hint = suggest.hint(ctx.get("tag"), allowed) if allowed else f"expected one of {ctx.get('expected_tags')}"
        elif kind == "union_tag_not_found":
            msg = f"missing key {str(err.get('ctx', {}).get('discriminator', 'type')).strip(chr(39))!r}"
            hint = "every entry needs a type"
        elif _inside_secret(loc) and kind != "value_error":
            # Whatever was typed into a secret reference may be the secret itself (our own
            # value errors name only the reference: a variable name or a path).
            msg = f"{msg.split(',')[0].rstrip('.')} (value not shown)"
        elif kind in ("int_parsing", "int_type", "bool_parsing", "bool_type", "string_type", "list_type",
                      "dict_type", "model_type", "float_parsing"):
            given = err.get("input")
            msg = f"{msg.rstrip('.')}, got {given!r}" if not isinstance(given, (dict, list)) else msg
        elif kind == "literal_error":
            allowed = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
            best = suggest.suggestion(err.get("input"), allowed) if allowed else None
            msg = f"{err.get('input')!r} is not one of: {', '.join(allowed)}" if allowed else msg
            hint = f"did you mean {best!r}?" if best else None
        elif kind == "string_pattern_mismatch":
            pattern = str(err.get("ctx", {}).get("pattern"))
            words = PATTERN_TEXT.get(pattern)
            msg = (f"{err.get('input')!r} is not {words}" if words
                   else f"{err.get('input')!r} has the wrong form (must match {pattern})")
        line, col = locate(tree, loc)
        address = readable_address(tree, loc)
        key = (line, col, msg)
        if key in seen:
            continue
        seen.add(key)
        out.append(Diagnostic(name, line, col, address, msg, hint))
    return out
