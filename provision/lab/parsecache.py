"""Parsed section-config files, kept while their text is unchanged.

Every lab request re-read ``/etc/pve/ha/resources.cfg`` and friends from the store and
parsed them from scratch: at 2,000 HA resources that is tens of milliseconds of CPU for a
GET of one resource, and adding resources one API call at a time (what ``lab up --from``
and ``ha-manager add`` do) became quadratic. Real pmxcfs keeps its files in memory; the
lab keeps the last parse of each file text instead.

The key is the file's *text*, not its path and version: a text maps to one parse, so an
entry can never be stale, whoever wrote the file (an API handler, a node CLI, the FUSE
mount, another process). Versions would not do: a file deleted and created again starts
at version 1, and a rename carries its version to the new path. Comparing a text costs a
hash of it (about 0.1 ms for 200 kB), far below a parse.

Callers get fresh ``Section`` objects (handlers edit what they read, then write it back);
a single section can be looked up by id without building the others. What a handler
writes is registered as the parse of the text it produced (write-through), so the next
read of a file the lab itself wrote is a hit, and each section's text and parse are
remembered by value, so rewriting a file with one section more costs a lookup per
unchanged section instead of formatting and parsing all of them again.

A node CLI is a fresh process per command (as PVE's are), so an in-memory cache never
helped it: each `ha-manager add` at 2,000 resources parsed resources.cfg and formatted
every section again (~40 % of its CPU). With `persist_in(DIR)` (what the node CLIs do)
the last text each file's writer produced is also kept on disk, one file per schema:
its SHA-1, its sections and each section's text (marshal, a few ms to load). A reader
whose text has that digest takes the parse from there; any other text (a hand edit, an
older version) is parsed as before, so the file can be stale but never wrong.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from provision.lab.formats import sectionconfig
from provision.lab.formats.sectionconfig import Schema, Section

Props = tuple[tuple[str, str], ...]
SectionKey = tuple[str, str, str, Props]  # schema name, type, id, props


@dataclass(frozen=True)
class Frozen:
    """One parsed section as the cache keeps it (never handed out)."""

    type: str
    id: str
    props: Props

    def thaw(self) -> Section:
        return Section(self.type, self.id, dict(self.props))


@dataclass(frozen=True)
class Parsed:
    """A file's sections in file order, and by id."""

    sections: tuple[Frozen, ...]
    by_id: Mapping[str, Frozen]


FILES_KEPT = 32
"""Parsed file texts kept (a few per file: the lab has half a dozen section-config files)."""
SECTIONS_KEPT = 50_000
"""Section texts kept; the memo starts over when it is full."""

_lock = threading.Lock()
_files: OrderedDict[tuple[str, str], Parsed] = OrderedDict()
_sections: dict[SectionKey, tuple[str, Frozen | None]] = {}
_persist_dir: Path | None = None


def persist_in(directory: Path | None) -> None:
    """Keep each file's last written parse in `directory` too (None: memory only)."""
    global _persist_dir
    _persist_dir = directory


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _load(text: str, schema: Schema) -> Parsed | None:
    """The persisted parse of `text`, when the last writer of this schema wrote exactly it;
    its sections' texts join the memo, so writing the file back is a lookup per section."""
    if _persist_dir is None:
        return None
    try:
        digest, rows, texts = marshal.loads((_persist_dir / f"{schema.name}.marshal").read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if digest != _digest(text) or len(rows) != len(texts):
        return None
    sections = tuple(Frozen(t, i, props) for t, i, props in rows)
    with _lock:
        if len(_sections) + len(sections) >= SECTIONS_KEPT:
            _sections.clear()
        for f, body in zip(sections, texts, strict=True):
            _sections[(schema.name, f.type, f.id, f.props)] = (body, f)
    return Parsed(sections, {f.id: f for f in sections})


def _save(whole: str, schema: Schema, sections: Sequence[Frozen], texts: Sequence[str]) -> None:
    """Persist what `write` produced (atomically: readers in other processes see the old
    file or the new one, and check the digest either way)."""
    if _persist_dir is None:
        return
    data = marshal.dumps((_digest(whole), tuple((f.type, f.id, f.props) for f in sections), tuple(texts)))
    _persist_dir.mkdir(parents=True, exist_ok=True)
    tmp = _persist_dir / f".{schema.name}.{os.getpid()}.{threading.get_ident()}"
    tmp.write_bytes(data)
    os.replace(tmp, _persist_dir / f"{schema.name}.marshal")


def _freeze(s: Section) -> Frozen:
    return Frozen(s.type, s.id, tuple(s.props.items()))


def _remember(key: tuple[str, str], parsed: Parsed) -> None:
    with _lock:
        _files[key] = parsed
        _files.move_to_end(key)
        while len(_files) > FILES_KEPT:
            _files.popitem(last=False)


def _parsed(text: str, schema: Schema) -> Parsed:
    key = (schema.name, text)
    with _lock:
        hit = _files.get(key)
    if hit is not None:
        return hit
    parsed = _load(text, schema) if text else None
    if parsed is None:
        sections = tuple(_freeze(s) for s in sectionconfig.parse(text, schema))
        parsed = Parsed(sections, {s.id: s for s in sections})
    _remember(key, parsed)
    return parsed


def read(text: str, schema: Schema) -> list[Section]:
    """The sections of `text` (fresh objects, the caller may edit them)."""
    return [s.thaw() for s in _parsed(text, schema).sections]


def find(text: str, schema: Schema, sid: str) -> Section | None:
    """The section `sid` of `text`, or None; the others are not built."""
    hit = _parsed(text, schema).by_id.get(sid)
    return hit.thaw() if hit is not None else None


def _section(s: Section, schema: Schema) -> tuple[str, Frozen | None]:
    """A section's text as PVE's writer puts it, and how that text reads back (None when
    it does not read back as exactly one section, e.g. an unknown type's odd value)."""
    key = (schema.name, s.type, s.id, tuple(s.props.items()))
    hit = _sections.get(key)
    if hit is not None:
        return hit
    text = sectionconfig.write([s], schema)
    back = sectionconfig.parse(text, schema)
    frozen = _freeze(next(iter(back))) if len(back) == 1 and not back.errors else None
    with _lock:
        if len(_sections) >= SECTIONS_KEPT:
            _sections.clear()
        _sections[key] = (text, frozen)
    return text, frozen


def write(sections: Sequence[Section], schema: Schema) -> str:
    """PVE's writer output for `sections` (``sectionconfig.write``), remembered as the
    parse of that text when every section reads back as itself."""
    texts: list[str] = []
    frozen: list[Frozen] = []
    exact = True
    for s in sections:
        text, back = _section(s, schema)
        texts.append(text)
        if back is None:
            exact = False
        else:
            frozen.append(back)
    whole = "".join(texts)
    by_id = {s.id: s for s in frozen}
    if exact and len(by_id) == len(frozen):  # a duplicate id reads back as one section: parse it then
        _remember((schema.name, whole), Parsed(tuple(frozen), by_id))
        _save(whole, schema, frozen, texts)
    return whole


__all__ = ["find", "persist_in", "read", "write"]
