"""Reading stack YAML so that no input can crash or hang the loader.

ruamel's round-trip loader keeps line and column of every node (the loader needs
them for FILE:LINE:COL) but trusts its input: aliases are expanded without bound
when the tree is converted, a mapping that merges itself recurses forever, tags
such as `!!int notanumber` raise plain Python exceptions, and deep nesting ends
in a RecursionError. `BoundedComposer` checks all of that while the document is
composed, once per node, and raises ruamel's own marked errors, which the loader
already turns into diagnostics. (`stackfile.read_stack_file` reads the text: it
refuses what is not a regular file, a FIFO would block, /dev/zero never ends.)
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from provision.spec.limits import MAX_DEPTH, MAX_NODES, MAX_NUMBER_DIGITS

_STD = "tag:yaml.org,2002:"
# Explicit tags a stack may use: the YAML core schema. Anything else (`!python/...`,
# `!!binary`, `!!omap`, local `!tags`) has no meaning in a stack.
_SCALAR_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null")}
_COLLECTION_TAGS: dict[type, str] = {SequenceNode: _STD + "seq", MappingNode: _STD + "map"}


class BoundedComposer(Composer):
    """ruamel's composer with limits on size, depth, aliases and tags.

    `_expanded` counts nodes as the converted data will have them: an alias adds the
    size of the node it names, measured once when that node was composed, so alias
    bombs are caught before anything is expanded and the check stays linear.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader=loader)
        self._expanded = 0
        self._sizes: dict[int, int] = {}
        self._level = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                if size is None:  # anchored node still being composed
                    raise ComposerError(None, None, f"alias *{event.anchor} refers to a node that contains it "
                                        "(a self-referencing structure)", event.start_mark)
                self._count(size, event.start_mark)
            return super().compose_node(parent, index)
        self._level += 1
        if self._level > MAX_DEPTH:
            raise ComposerError(None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
        before = self._expanded
        self._count(1, event.start_mark)
        node: Node = super().compose_node(parent, index)
        self._level -= 1
        if event.anchor is not None:
            self._sizes[id(node)] = self._expanded - before
        return node

    def _count(self, nodes: int, mark: Any) -> None:
        self._expanded += nodes
        if self._expanded > MAX_NODES:
            raise ComposerError(None, None, f"more than {MAX_NODES:,} YAML nodes (after expanding aliases); "
                                "no cluster needs that", mark)

    def compose_sequence_node(self, anchor: Any) -> Any:
        self._check_collection_tag(SequenceNode)
        return super().compose_sequence_node(anchor)

    def compose_mapping_node(self, anchor: Any) -> Any:
        self._check_collection_tag(MappingNode)
        return super().compose_mapping_node(anchor)

    def _check_collection_tag(self, kind: type) -> None:
        event = self.parser.peek_event()
        tag = event.ctag
        if tag is not None and str(tag) not in ("!", _COLLECTION_TAGS[kind]):
            raise ComposerError(None, None, f"YAML tag {tag} is not allowed in a stack", event.start_mark)

    def compose_scalar_node(self, anchor: Any) -> Any:
        event = self.parser.peek_event()
        tag = event.ctag
        explicit = tag is not None and str(tag) != "!"
        if not explicit and len(event.value) <= MAX_NUMBER_DIGITS:
            return super().compose_scalar_node(anchor)  # the common case: nothing to check
        implicit = self.resolver.resolve(ScalarNode, event.value, (True, False))
        if explicit:
            name = str(tag)
            if name not in _SCALAR_TAGS:
                raise ComposerError(None, None, f"YAML tag {tag} is not allowed in a stack "
                                    "(only !!str, !!int, !!float, !!bool, !!null)", event.start_mark)
            if name != _STD + "str" and str(implicit) != name:
                raise ComposerError(None, None, f"{event.value[:40]!r} is not a valid !!{name[len(_STD):]}",
                                    event.start_mark)
        if str(implicit) == _STD + "int" and event.style is None and len(event.value) > MAX_NUMBER_DIGITS:
            raise ComposerError(None, None, f"number with more than {MAX_NUMBER_DIGITS} digits",
                                event.start_mark)
        return super().compose_scalar_node(anchor)


def stack_yaml() -> YAML:
    """The round-trip YAML instance every stack is parsed with."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Composer = BoundedComposer
    return yaml
