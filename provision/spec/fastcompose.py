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
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.nodes import ScalarNode

from provision.spec.limits import MAX_DEPTH, MAX_NODES, MAX_NUMBER_DIGITS
from provision.spec.yamlread import stack_yaml

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_INT = "tag:yaml.org,2002:int"
_CLoader: Any = getattr(yaml, "CSafeLoader", None)


class _Unusual(Exception):
    """The text leaves the plain subset; ruamel's loader takes over."""


class _Scalars:
    """ruamel's YAML 1.2 resolution and construction of plain scalars, memoised by text
    (a stack repeats the same few values: `nic`, `true`, `9000`)."""

    def __init__(self) -> None:
        y = stack_yaml()
        self._resolver = y.resolver
        self._constructor = y.constructor
        self._cache: dict[str, Any] = {}

    def plain(self, value: str) -> Any:
        try:
            return self._cache[value]
        except KeyError:
            pass
        tag = str(self._resolver.resolve(ScalarNode, value, (True, False)))
        if tag == _STR:
            out: Any = value
        elif tag == _NULL:
            out = None
        else:
            if tag == _INT and len(value) > MAX_NUMBER_DIGITS:
                raise _Unusual
            out = self._constructor.construct_object(ScalarNode(tag, value))
            out = bool(out) if isinstance(out, bool) else int(out) if isinstance(out, int) else (
                float(out) if isinstance(out, float) else out)
        self._cache[value] = out
        return out


class _Frame:
    """One open collection: the container, and for a mapping the key waiting for its value."""

    __slots__ = ("container", "key", "key_mark")

    def __init__(self, container: Any) -> None:
        self.container = container
        self.key: str | None = None
        self.key_mark: tuple[int, int] = (0, 0)


def compose_fast(text: str) -> CommentedMap | None:
    """The stack's tree as ruamel's round-trip loader would build it, or None when the
    text is not plain YAML this path takes (the caller then parses it with ruamel)."""
    if _CLoader is None:  # PyYAML without libyaml: nothing to gain
        return None
    try:
        tree: CommentedMap = _compose(text, marks=True)
        return tree
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
    container = frame.container
    if isinstance(container, CommentedSeq):
        container.lc.add_kv_line_col(len(container), [mark.line, mark.column])
        container.append(value)
    elif frame.key is None:
        if not isinstance(value, str) or value == "<<" or value in container:
            raise _Unusual  # complex or non-string key, merge key, duplicate key
        frame.key = value
        frame.key_mark = (mark.line, mark.column)
    else:
        key = frame.key
        container.lc.add_kv_line_col(key, [*frame.key_mark, mark.line, mark.column])
        container[key] = value
        frame.key = None
    return root


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
