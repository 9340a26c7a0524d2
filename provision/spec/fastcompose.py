"""A fast path for reading stacks: libyaml's C parser, ruamel's tree.

ruamel's round-trip loader is pure Python and takes seconds for a 32-node stack
(bench/big_stack.py, ~365 kB). libyaml (PyYAML's C extension) produces the parse
events, with their marks, in a fraction of that. `compose_fast` builds from those
events the same tree ruamel would give the loader: `CommentedMap`/`CommentedSeq`
whose `.lc` hold each key's and item's line and column, with scalars resolved and
constructed by ruamel's own YAML 1.2 resolver and constructor (libyaml is YAML 1.1:
`yes` or `1:20` must not change meaning).

It takes only the plain subset stacks are written in: one document, no anchors,
aliases, explicit tags or directives, string keys, no duplicate keys, no merge key,
within the nesting and size limits. For anything else, including every syntax
error, it returns None and the caller uses ruamel's bounded loader, so there is one
source of diagnostics and of the rules for unusual YAML (`yamlread.BoundedComposer`).
"""

from __future__ import annotations

from typing import Any

import yaml

from provision.spec.limits import MAX_DEPTH, MAX_NODES, MAX_NUMBER_DIGITS

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_INT = "tag:yaml.org,2002:int"
_CLoader: Any = getattr(yaml, "CSafeLoader", None)


class _Unusual(Exception):
    """The text leaves the plain subset; ruamel's loader takes over."""


# YAML 1.2 (ruamel's resolver) picks a plain scalar's candidate types by its first
# character: booleans start with one of "tTfF", null with "~nN" or is empty, numbers and
# timestamps with a digit, a sign or ".", and "<", "=", "!", "&", "*" have resolvers of
# their own. Whatever starts with another character is a string, and so is a word of
# "tTfFnN" that is not one of the boolean or null spellings.
_RESOLVED_BY_FIRST = frozenset("tTfFnN~-+.0123456789<=!&*")
_WORDS: dict[str, Any] = {"true": True, "True": True, "TRUE": True, "false": False, "False": False,
                          "FALSE": False, "null": None, "Null": None, "NULL": None}
# Digit-first numbers and timestamps use only these characters: digits, "_", ".", the
# exponent's "e", signs, and the timestamp's "-", ":", "T", "Z" and blanks; after a
# leading "0x", "0o" or "0b" also hex digits. A digit-first scalar with any other
# character ("10.0.0.0/24", "802.3ad", "9000M") is a string.
_DECIMAL_CHARS = frozenset("0123456789_.eE+-:tTzZ \t")
_PREFIXED_CHARS = _DECIMAL_CHARS | frozenset("xXoObBaAcCdDfF")


def _simple(value: str) -> tuple[bool, Any]:
    """(True, value) for the plain scalars stacks are made of, as ruamel resolves and
    constructs them; (False, None) for the rest, which ruamel itself resolves."""
    if not value:
        return False, None
    first = value[0]
    if first not in _RESOLVED_BY_FIRST:
        return True, value
    if first in "tTfFnN":
        return True, _WORDS.get(value, value)
    if "0" <= first <= "9":
        prefixed = first == "0" and value[1:2] in ("x", "o", "b")
        if not (_PREFIXED_CHARS if prefixed else _DECIMAL_CHARS).issuperset(value):
            return True, value
        if value.isdigit() and value.isascii() and (value == "0" or first != "0"):
            if len(value) > MAX_NUMBER_DIGITS:
                raise _Unusual
            return True, int(value)  # decimal: ruamel's int of these digits
        if value.count(".") > 1 and value.replace(".", "").isdigit():
            return True, value  # 10.0.0.1: one dot at most in a float, none in an int or a date
    return False, None


class _Scalars:
    """ruamel's YAML 1.2 resolution and construction of plain scalars, memoised by text
    (a stack repeats the same few values: `nic`, `true`, `9000`). The plain shapes of
    `_simple` need no ruamel at all, so a stack made of them never imports it."""

    def __init__(self) -> None:
        self._resolver: Any = None
        self._constructor: Any = None
        self._cache: dict[str, Any] = {}

    def plain(self, value: str) -> Any:
        try:
            return self._cache[value]
        except KeyError:
            pass
        simple, out = _simple(value)
        if not simple:
            out = self._ruamel(value)
        self._cache[value] = out
        return out

    def _ruamel(self, value: str) -> Any:
        from ruamel.yaml.nodes import ScalarNode

        if self._resolver is None:
            from provision.spec.yamlread import stack_yaml

            y = stack_yaml()
            self._resolver, self._constructor = y.resolver, y.constructor
        tag = str(self._resolver.resolve(ScalarNode, value, (True, False)))
        if tag == _STR:
            return value
        if tag == _NULL:
            return None
        if tag == _INT and len(value) > MAX_NUMBER_DIGITS:
            raise _Unusual
        out = self._constructor.construct_object(ScalarNode(tag, value))
        return bool(out) if isinstance(out, bool) else int(out) if isinstance(out, int) else (
            float(out) if isinstance(out, float) else out)


class _Frame:
    """One open collection: the container, and for a mapping the key waiting for its value."""

    __slots__ = ("container", "key", "key_mark")

    def __init__(self, container: Any) -> None:
        self.container = container
        self.key: str | None = None
        self.key_mark: tuple[int, int] = (0, 0)


def compose_fast(text: str) -> Any:
    """The stack's tree as ruamel's round-trip loader would build it, or None when the
    text is not plain YAML this path takes (the caller then parses it with ruamel)."""
    if _CLoader is None:  # PyYAML without libyaml: nothing to gain
        return None
    try:
        return _compose(text, marks=True)
    except (_Unusual, yaml.YAMLError):
        return None


def load_fast(text: str) -> dict[str, Any] | None:
    """The stack's data as plain dicts, lists and scalars (what `compose_fast`'s tree holds,
    without positions), or None where `compose_fast` declines. A stack that loads cleanly
    never needs a position, so this is the whole parse of `provision plan`; the tree with
    marks is composed only when a finding must be placed in the file."""
    if _CLoader is None:
        return None
    try:
        data = _compose(text, marks=False)
    except (_Unusual, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _compose(text: str, marks: bool) -> Any:
    """One pass over libyaml's events; `marks` builds ruamel's containers with every
    key's and item's position, otherwise plain dicts and lists (several times faster)."""
    loader = _CLoader(text)
    place = _place if marks else _place_plain
    scalars = _Scalars()
    frames: list[_Frame] = []
    root: Any = None
    documents = 0
    nodes = 0
    try:
        while True:
            event = loader.get_event()
            if event is None:
                break
            kind = type(event)
            if kind is yaml.ScalarEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _Unusual
                value = scalars.plain(event.value) if event.implicit[0] else event.value
                nodes += 1
                root = place(frames, value, event.start_mark, root)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if event.anchor is not None or event.tag is not None or len(frames) >= MAX_DEPTH - 1:
                    raise _Unusual
                nodes += 1
                mark = event.start_mark
                container: Any
                if marks:
                    from ruamel.yaml.comments import CommentedMap, CommentedSeq  # the tree is ruamel's

                    container = CommentedMap() if kind is yaml.MappingStartEvent else CommentedSeq()
                    container._yaml_set_line_col(mark.line, mark.column)
                else:
                    container = {} if kind is yaml.MappingStartEvent else []
                root = place(frames, container, mark, root)
                frames.append(_Frame(container))
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                frames.pop()
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1 or event.version is not None or event.tags:
                    raise _Unusual
            elif kind is yaml.AliasEvent:
                raise _Unusual
            if nodes > MAX_NODES:
                raise _Unusual
    finally:
        loader.dispose()
    if not isinstance(root, dict):
        raise _Unusual  # empty text, or not a mapping at the top: ruamel's diagnostics
    return root


def _place(frames: list[_Frame], value: Any, mark: Any, root: Any) -> Any:
    """Put `value` where the parser is (a key, a mapping value, a list item or the root)."""
    if not frames:
        return value
    frame = frames[-1]
    container: Any = frame.container
    if not isinstance(container, dict):  # a CommentedSeq (a CommentedMap is a dict)
        _marks(container).add_kv_line_col(len(container), [mark.line, mark.column])
        container.append(value)
    elif frame.key is None:
        if not isinstance(value, str) or value == "<<" or value in container:
            raise _Unusual  # complex or non-string key, merge key, duplicate key
        frame.key = value
        frame.key_mark = (mark.line, mark.column)
    else:
        key = frame.key
        _marks(container).add_kv_line_col(key, [*frame.key_mark, mark.line, mark.column])
        container[key] = value
        frame.key = None
    return root


def _marks(container: Any) -> Any:
    """The line/column record of a ruamel container."""
    return container.lc


def _place_plain(frames: list[_Frame], value: Any, mark: Any, root: Any) -> Any:
    """`_place` for plain containers: the same rules, no positions."""
    if not frames:
        return value
    frame = frames[-1]
    container = frame.container
    if frame.key is None and isinstance(container, dict):
        if not isinstance(value, str) or value == "<<" or value in container:
            raise _Unusual
        frame.key = value
    elif isinstance(container, list):
        container.append(value)
    else:
        container[frame.key] = value
        frame.key = None
    return root
