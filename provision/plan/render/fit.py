"""Fit a Markdown document into a size limit (a pull-request comment) by cutting whole
lines, never markup.

GitHub refuses a comment body over 65,536 characters, so a plan of a large cluster
(thousands of HA resources) cannot be posted whole. The renderer hands over its
output as a fixed head and foot plus `Block`s (a phase, a file diff, ...) whose
opening and closing lines are kept together, so a cut never leaves a `<details>` or a
code fence open. Blocks are kept in order while they fit; the first that does not is
cut after its last fitting item line, and every later block is listed by name only.
Sizes are counted in UTF-8 bytes, which is never less than the characters or UTF-16
units a service may count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

GITHUB_COMMENT_LIMIT = 65_536
"""GitHub's maximum comment body (REST and GraphQL), in characters."""

DEFAULT_LIMIT = GITHUB_COMMENT_LIMIT - 1_536
"""Room left for what a posting action adds around the body (a sticky-comment marker, a heading)."""


@dataclass(frozen=True)
class Block:
    """A section that is kept whole, cut after some of its items, or left out."""

    title: str
    """How the section is named when it is cut or left out, e.g. `ha-resources (2000 actions)`."""
    head: Sequence[str]
    items: Sequence[str]
    tail: Sequence[str]
    rows: int = 0
    """How many leading items are table rows of actions (the rest: their change details)."""


def _size(lines: Sequence[str]) -> int:
    return sum(len(line.encode("utf-8")) + 1 for line in lines)


def fit(head: Sequence[str], blocks: Sequence[Block], foot: Sequence[str], limit: int,
        too_long: Sequence[str]) -> list[str]:
    """The document's lines, within `limit` bytes when joined with newlines.

    `too_long` is the notice printed after `head` when anything had to be cut (it says
    where the whole plan is). Raises ValueError when even head, notice and foot do not fit.
    """
    whole = [*head, *(line for b in blocks for line in (*b.head, *b.items, *b.tail)), *foot]
    if _size(whole) <= limit:
        return whole
    skipped_header = ["**Not shown** (in the full plan):", ""]
    worst_list = _size(skipped_header) + _size([_skipped(b, cut=True) for b in blocks]) + _size([""])
    budget = limit - _size(head) - _size(too_long) - _size(foot) - worst_list
    if budget < 0:
        raise ValueError(f"a Markdown plan needs at least {limit - budget} bytes; the limit is {limit}")
    body: list[str] = []
    skipped: list[str] = []
    for block in blocks:
        lines = [*block.head, *block.items, *block.tail]
        if not skipped and _size(lines) <= budget:
            body += lines
            budget -= _size(lines)
            continue
        kept = _cut(block, budget) if not skipped else None
        if kept is not None:
            body += kept
            budget -= _size(kept)
        skipped.append(_skipped(block, cut=kept is not None))
    return [*head, *too_long, *body, *skipped_header, *skipped, "", *foot]


def _skipped(block: Block, cut: bool = False) -> str:
    return f"- {block.title}" + (": the rest of it" if cut else "")


def _cut_note(block: Block, kept: int) -> str:
    if block.rows and kept < block.rows:
        return f"*… {block.rows - kept} more action(s) of {block.title} and their changes are not shown.*"
    if block.rows:
        return f"*… changes of {block.title} are not shown after the first {kept - block.rows - 1} line(s).*"
    return f"*… {len(block.items) - kept} more line(s) of {block.title} are not shown.*"


def _cut(block: Block, budget: int) -> list[str] | None:
    """The block's head, as many items as fit, its tail and a line saying how many were
    cut; None when not even one item fits."""
    note_room = max(_size([_cut_note(block, n), ""]) for n in (0, block.rows, len(block.items)))
    room = budget - _size(block.head) - _size(block.tail) - note_room
    kept = 0
    for item in block.items:
        cost = len(item.encode("utf-8")) + 1
        if cost > room:
            break
        room -= cost
        kept += 1
    if kept == 0:
        return None
    return [*block.head, *block.items[:kept], *block.tail, _cut_note(block, kept), ""]
