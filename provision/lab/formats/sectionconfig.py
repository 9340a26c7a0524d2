"""PVE "section config" files: ``/etc/pve/ha/{resources,groups,rules}.cfg`` and ``storage.cfg``.

All of them go through pve-common's ``SectionConfig`` writer, so their layout is fixed by it:

- a header ``<type>: <id>`` at column 0, then one ``<TAB><key> <value>`` line per property and a
  blank line after every section (the file therefore ends with an empty line);
- inside a section: ``comment`` first, a bare ``disable`` line if set, then the type's required
  keys alphabetically, then the optional keys alphabetically;
- booleans are written ``1``/``0``; sections keep their file order and new ones are appended.

The reader is as tolerant as PVE's: any indentation, ``#`` comment lines, bare flags (``sparse``
means ``sparse 1``), any key order. Unlike PVE it keeps properties its schema does not know
(the lab's schemas list what the lab uses, not every PVE option) instead of dropping them, and a
header line directly after a section starts a new section instead of being ignored.

Values are kept as strings in ``Section.props`` (booleans normalised to ``"1"``/``"0"``), which
is what the lab stores; ``Section.to_api`` turns booleans and integers into JSON integers the
way the PVE API returns them.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from provision.lab.formats.errors import FormatError

__all__ = [
    "DEFAULT_CONTENT",
    "HA_GROUPS",
    "HA_RESOURCES",
    "HA_RULES",
    "SHARED_STORAGE_TYPES",
    "STORAGE",
    "Prop",
    "Schema",
    "Section",
    "SectionConfig",
    "SectionConfigError",
    "SectionType",
    "format_node_list",
    "parse",
    "parse_boolean",
    "parse_node_list",
    "parse_sid",
    "rules_to_api",
    "split_list",
    "storage_to_api",
    "write",
]

Kind = Literal["string", "boolean", "integer", "list", "sid-list", "node-priorities", "node-list", "text"]


class SectionConfigError(FormatError):
    """A section config that cannot be written (missing required key, bad value)."""


@dataclass(frozen=True)
class Prop:
    """How one property is read, written and returned by the API.

    Kinds: ``string`` (as is), ``boolean`` (``1``/``0``, bare flag = 1), ``integer``,
    ``list`` (comma list, order kept), ``sid-list`` (HA resource ids, written sorted),
    ``node-priorities`` (``n1:2,n2`` written sorted by node, priority 0 bare),
    ``node-list`` (HA group ``node[:prio]`` entries, order kept), ``text`` (URI-escaped
    comment as PVE's ``encode_text`` stores it in rules.cfg).
    """

    kind: Kind = "string"
    required: bool = False


@dataclass(frozen=True)
class SectionType:
    """A section type (``vm``, ``group``, ``node-affinity``, ``dir``...) and its properties."""

    name: str
    props: Mapping[str, Prop]

    def required(self) -> list[str]:
        return sorted(k for k, p in self.props.items() if p.required)


@dataclass(frozen=True)
class Schema:
    """One file's types plus how its section ids work.

    ``id_includes_type`` is the HA resources quirk: header ``vm: 100`` is section ``vm:100``.
    ``id_key`` is the name the API uses for the section id (``sid``, ``group``, ``rule``,
    ``storage``).
    """

    name: str
    types: Mapping[str, SectionType]
    id_key: str
    id_includes_type: bool = False

    def section_id(self, type_: str, name: str) -> str:
        return f"{type_}:{name}" if self.id_includes_type else name

    def header_name(self, section: Section) -> str:
        if self.id_includes_type and ":" in section.id:
            return section.id.split(":", 1)[1]
        return section.id


@dataclass
class Section:
    """One ``<type>: <id>`` block. ``props`` excludes ``type`` and the id."""

    type: str
    id: str
    props: dict[str, str] = field(default_factory=dict)

    def get_bool(self, key: str, default: bool = False) -> bool:
        value = self.props.get(key)
        return default if value is None else value not in ("", "0")

    def set(self, key: str, value: str | int | bool | None) -> None:
        """Set (or with ``None`` delete) a property, normalising booleans to ``1``/``0``."""
        if value is None:
            self.props.pop(key, None)
        elif isinstance(value, bool):
            self.props[key] = "1" if value else "0"
        else:
            self.props[key] = str(value)

    def to_api(self, schema: Schema) -> dict[str, Any]:
        """The API item: id under ``schema.id_key``, ``type``, then the properties with
        booleans/integers as ints (PVE returns 0/1 numbers for those)."""
        stype = schema.types.get(self.type)
        out: dict[str, Any] = {schema.id_key: self.id, "type": self.type}
        for key, value in self.props.items():
            prop = stype.props.get(key) if stype else None
            if prop is not None and prop.kind in ("boolean", "integer"):
                try:
                    out[key] = int(value)
                except ValueError:
                    out[key] = value
            else:
                out[key] = value
        return out


@dataclass
class SectionConfig:
    """The sections of one file in file order, plus what the reader had to skip.

    ``digest`` is the SHA-1 of the text that was parsed; PVE's API returns it and checks it on
    updates (``digest`` parameter), so the lab can do the same.
    """

    sections: dict[str, Section] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    digest: str = hashlib.sha1(b"").hexdigest()

    def __iter__(self) -> Iterator[Section]:
        return iter(list(self.sections.values()))

    def __len__(self) -> int:
        return len(self.sections)

    def __contains__(self, sid: object) -> bool:
        return sid in self.sections

    def __getitem__(self, sid: str) -> Section:
        return self.sections[sid]

    def get(self, sid: str) -> Section | None:
        return self.sections.get(sid)

    def ids(self) -> list[str]:
        return list(self.sections)

    def order(self) -> dict[str, int]:
        """Position of each section, starting at 1 (PVE's ``order`` hash)."""
        return {sid: i for i, sid in enumerate(self.sections, start=1)}

    def add(self, section: Section) -> None:
        """Append a new section; refuses duplicates like PVE's create calls."""
        if section.id in self.sections:
            raise SectionConfigError(f"section '{section.id}' already defined")
        self.sections[section.id] = section

    def put(self, section: Section) -> None:
        """Replace a section in place (keeps its position) or append it."""
        self.sections[section.id] = section

    def remove(self, sid: str) -> Section:
        try:
            return self.sections.pop(sid)
        except KeyError:
            raise SectionConfigError(f"no such section '{sid}'") from None


# --- value helpers --------------------------------------------------------------------------------

_HEADER_RE = re.compile(r"^(\S+):\s*(\S+)\s*$")
_PROP_RE = re.compile(r"^\s+(\S+)(?:\s+(.*\S))?\s*$")
_HA_NODE_RE = re.compile(r"^([a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)(?::(\d+))?$")
_SID_RE = re.compile(r"^([a-z]+):(\S+)$")
_INT_RE = re.compile(r"^[+-]?\d+$")


def split_list(text: str) -> list[str]:
    """PVE's ``split_list``: items separated by commas, semicolons or whitespace."""
    return [item for item in re.split(r"[,;\s]+", text.strip()) if item]


def parse_boolean(text: str) -> bool | None:
    """PVE's ``parse_boolean``: 1/on/yes/true and 0/off/no/false, any case."""
    low = text.lower()
    if low in ("1", "on", "yes", "true"):
        return True
    if low in ("0", "off", "no", "false"):
        return False
    return None


def parse_node_list(text: str) -> dict[str, int]:
    """``n1:2,n2:1,n3`` -> ``{"n1": 2, "n2": 1, "n3": 0}`` (a missing priority is 0).

    Raises with PVE's message on an entry that is not ``<node>[:<priority>]``.
    """
    out: dict[str, int] = {}
    for entry in split_list(text):
        m = _HA_NODE_RE.match(entry)
        if not m:
            raise SectionConfigError(f"unable to parse HA node entry '{entry}'")
        out[m.group(1)] = int(m.group(2) or 0)
    return out


def format_node_list(nodes: Mapping[str, int], *, sort: bool = True) -> str:
    """``{"n2": 1, "n1": 2, "n3": 0}`` -> ``n1:2,n2:1,n3``.

    Rules are written sorted by node with priority 0 bare (``sort=True``); groups keep the
    given order (PVE writes them in hash order, i.e. unstable; the lab keeps it stable).
    """
    names = sorted(nodes) if sort else list(nodes)
    return ",".join(f"{n}:{nodes[n]}" if nodes[n] else n for n in names)


def parse_sid(sid: str) -> tuple[str, str]:
    """``vm:100`` -> ``("vm", "100")``."""
    m = _SID_RE.match(sid)
    if not m:
        raise SectionConfigError(f"value does not look like a valid ha resource id: '{sid}'")
    return m.group(1), m.group(2)


def _encode_text(text: str) -> str:
    """PVE's ``encode_text``: percent-escape control/non-ASCII bytes, ``:`` and ``%``."""
    safe = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in ":%")
    return urllib.parse.quote(text, safe=safe, encoding="utf-8")


def _decode_text(text: str) -> str:
    return urllib.parse.unquote(text, encoding="utf-8", errors="replace")


def _decode(prop: Prop, value: str | None) -> str:
    """File token -> stored string; raises ``ValueError`` with PVE's wording when invalid."""
    if value is None:
        if prop.kind == "boolean":
            return "1"
        raise ValueError("got undefined value")
    if prop.kind == "boolean":
        flag = parse_boolean(value)
        if flag is None:
            raise ValueError(f"type check ('boolean') failed - got '{value}'")
        return "1" if flag else "0"
    if prop.kind == "integer":
        if not _INT_RE.match(value):
            raise ValueError(f"type check ('integer') failed - got '{value}'")
        return str(int(value))
    if prop.kind == "list":
        return ",".join(dict.fromkeys(split_list(value)))
    if prop.kind == "sid-list":
        return ",".join(sorted({s for s in split_list(value) if _SID_RE.match(s)}))
    if prop.kind == "node-priorities":
        nodes: dict[str, int] = {}
        for entry in split_list(value):
            m = _HA_NODE_RE.match(entry)
            if m:
                nodes[m.group(1)] = int(m.group(2) or 0)
        return format_node_list(nodes)
    if prop.kind == "node-list":
        return ",".join(dict.fromkeys(e for e in split_list(value) if _HA_NODE_RE.match(e)))
    if prop.kind == "text":
        return _decode_text(value)
    return value


def _encode(prop: Prop | None, key: str, value: str) -> str | None:
    """Stored string -> file token, or ``None`` when PVE would not write the line."""
    if "\n" in value or "\r" in value:
        raise SectionConfigError(f"property '{key}' contains a line feed")
    kind = prop.kind if prop else "string"
    if kind == "boolean":
        flag = parse_boolean(value)
        return "1" if (flag if flag is not None else value != "") else "0"
    if kind == "sid-list":
        return ",".join(sorted(set(split_list(value))))
    if kind == "node-priorities":
        return format_node_list(parse_node_list(value))
    if kind == "text":
        value = _encode_text(value)
    return value if value != "" else None


# --- reader ---------------------------------------------------------------------------------------


def parse(text: str, schema: Schema) -> SectionConfig:
    """Read a section config file; problems go to ``errors`` (PVE warns and skips them)."""
    cfg = SectionConfig(digest=hashlib.sha1(text.encode("utf-8")).hexdigest())
    current: Section | None = None
    current_type: SectionType | None = None
    seen: set[str] = set()
    skip = False
    for lineno, line in enumerate(text.split("\n"), start=1):
        if re.match(r"^\s*#", line):
            continue
        if line == "":
            current, current_type, skip = None, None, False
            continue
        header = _HEADER_RE.match(line)
        if header:
            type_ = header.group(1).lower()
            sid = schema.section_id(type_, header.group(2))
            skip = sid in cfg.sections
            if skip:
                cfg.errors.append(f"line {lineno}: duplicate section '{sid}' - skipped")
                current = None
                continue
            current = Section(type=type_, id=sid)
            current_type = schema.types.get(type_)
            cfg.sections[sid] = current
            seen = set()
            continue
        if skip:
            continue
        if current is None:
            if line.strip():
                cfg.errors.append(f"line {lineno}: ignore config line: {line}")
            continue
        m = _PROP_RE.match(line)
        if not m:
            if line.strip():
                cfg.errors.append(f"line {lineno} (section '{current.id}'): ignore config line: {line}")
            continue
        key, value = m.group(1), m.group(2)
        prop = current_type.props.get(key) if current_type else None
        if key in seen:
            cfg.errors.append(
                f"line {lineno} (section '{current.id}'): unable to parse value of '{key}': "
                "duplicate attribute"
            )
            continue
        try:
            stored = _decode(prop, value) if prop else ("1" if value is None else value)
        except ValueError as exc:
            cfg.errors.append(
                f"line {lineno} (section '{current.id}'): unable to parse value of '{key}': {exc}"
            )
            continue
        seen.add(key)
        current.props[key] = stored
    return cfg


# --- writer ---------------------------------------------------------------------------------------


def _write_section(section: Section, schema: Schema) -> str:
    stype = schema.types.get(section.type)
    lines = [f"{section.type}: {schema.header_name(section)}\n"]
    props = section.props

    def line(key: str, prop: Prop | None) -> None:
        token = _encode(prop, key, props[key])
        if token is not None:
            lines.append(f"\t{key} {token}\n")

    if stype is None:
        # unknown type: PVE's allow_unknown path - comment first, then keys sorted, raw values
        keys = (["comment"] if "comment" in props else []) + sorted(k for k in props if k != "comment")
        for key in keys:
            lines.append(f"\t{key} {props[key]}\n")
        return "".join(lines)

    comment = props.get("comment")
    if comment not in (None, "", "0"):
        line("comment", stype.props.get("comment"))
    if section.get_bool("disable"):
        lines.append("\tdisable\n")
    required = stype.required()
    for key in required:
        if key not in props:
            raise SectionConfigError(
                f"section '{section.id}' - missing value for required option '{key}'"
            )
        line(key, stype.props[key])
    for key in sorted(props):
        if key in ("comment", "disable") or key in required:
            continue
        line(key, stype.props.get(key))
    return "".join(lines)


def write(cfg: Iterable[Section], schema: Schema) -> str:
    """Write sections in order with PVE's key order; every section ends with a blank line."""
    sections = list(cfg)
    return "".join(_write_section(s, schema) + "\n" for s in sections)


# --- concrete schemas -----------------------------------------------------------------------------


#: property names written with hyphens in PVE (keyword arguments can't carry them)
_HYPHENATED = {
    "fs_name": "fs-name",
    "prune_backups": "prune-backups",
    "max_protected_backups": "max-protected-backups",
    "content_dirs": "content-dirs",
    "create_base_path": "create-base-path",
    "create_subdirs": "create-subdirs",
    "snapshot_as_volume_chain": "snapshot-as-volume-chain",
    "data_pool": "data-pool",
    "encryption_key": "encryption-key",
    "master_pubkey": "master-pubkey",
}


def _props(required: tuple[str, ...] = (), **kinds: Kind) -> dict[str, Prop]:
    """Property map from keyword kinds (``fs_name`` means ``fs-name``); ``required`` are the
    options PVE does not mark optional (including its ``fixed`` ones)."""
    out = {_HYPHENATED.get(k, k): Prop(kind) for k, kind in kinds.items()}
    for key in required:
        out[key] = Prop(out[key].kind if key in out else "string", required=True)
    return out


_HA_RESOURCE_PROPS = _props(
    comment="string",
    failback="boolean",
    group="string",
    max_relocate="integer",
    max_restart="integer",
    state="string",
)

HA_RESOURCES = Schema(
    name="resources.cfg",
    id_key="sid",
    id_includes_type=True,
    types={t: SectionType(t, _HA_RESOURCE_PROPS) for t in ("vm", "ct")},
)

HA_GROUPS = Schema(
    name="groups.cfg",
    id_key="group",
    types={
        "group": SectionType(
            "group",
            _props(("nodes",), nodes="node-list", comment="string", nofailback="boolean", restricted="boolean"),
        )
    },
)

HA_RULES = Schema(
    name="rules.cfg",
    id_key="rule",
    types={
        "node-affinity": SectionType(
            "node-affinity",
            _props(
                ("nodes", "resources"),
                nodes="node-priorities",
                resources="sid-list",
                strict="boolean",
                affinity="string",  # pve-ha-manager >= 5.2.5
                disable="boolean",
                comment="text",
            ),
        ),
        "resource-affinity": SectionType(
            "resource-affinity",
            _props(
                ("affinity", "resources"),
                affinity="string",
                resources="sid-list",
                disable="boolean",
                comment="text",
            ),
        ),
    },
)

_COMMON_STORAGE: dict[str, Kind] = {"nodes": "list", "disable": "boolean", "content": "list", "bwlimit": "string"}
_BACKUP_OPTS: dict[str, Kind] = {"prune_backups": "string", "max_protected_backups": "integer"}
_DIR_LIKE: dict[str, Kind] = {
    "content_dirs": "string",
    "format": "string",
    "mkdir": "boolean",
    "create_base_path": "boolean",
    "create_subdirs": "boolean",
}


def _storage_type(name: str, required: tuple[str, ...], **kinds: Kind) -> SectionType:
    return SectionType(name, _props(required, **{**_COMMON_STORAGE, **kinds}))


#: storage types PVE marks ``shared 1`` in its API (pve-storage ``@SHARED_STORAGE``)
SHARED_STORAGE_TYPES = frozenset(
    {"iscsi", "nfs", "cifs", "rbd", "cephfs", "iscsidirect", "zfs", "drbd", "pbs"}
)

#: content a storage gets when its section has no ``content`` line (pve-storage plugindata)
DEFAULT_CONTENT = {
    "dir": "images,rootdir",
    "lvmthin": "images,rootdir",
    "rbd": "images",
    "cephfs": "backup",
    "nfs": "images",
    "iscsi": "images",
    "pbs": "backup",
    "zfspool": "images,rootdir",
}

STORAGE = Schema(
    name="storage.cfg",
    id_key="storage",
    types={
        "dir": _storage_type(
            "dir",
            ("path",),
            path="string",
            shared="boolean",
            is_mountpoint="string",
            preallocation="string",
            snapshot_as_volume_chain="boolean",
            **_DIR_LIKE,
            **_BACKUP_OPTS,
        ),
        "lvmthin": _storage_type("lvmthin", ("thinpool", "vgname"), thinpool="string", vgname="string"),
        "rbd": _storage_type(
            "rbd",
            (),
            monhost="string",
            pool="string",
            data_pool="string",
            namespace="string",
            username="string",
            krbd="boolean",
            keyring="string",
        ),
        "cephfs": _storage_type(
            "cephfs",
            ("path",),
            path="string",
            monhost="string",
            subdir="string",
            options="string",
            username="string",
            fuse="boolean",
            keyring="string",
            fs_name="string",
            **_DIR_LIKE,
            **_BACKUP_OPTS,
        ),
        "nfs": _storage_type(
            "nfs",
            ("export", "path", "server"),
            path="string",
            server="string",
            export="string",
            options="string",
            preallocation="string",
            snapshot_as_volume_chain="boolean",
            **_DIR_LIKE,
            **_BACKUP_OPTS,
        ),
        "iscsi": _storage_type("iscsi", ("portal", "target"), portal="string", target="string"),
        "pbs": _storage_type(
            "pbs",
            ("datastore", "server"),
            server="string",
            datastore="string",
            namespace="string",
            port="integer",
            username="string",
            password="string",
            encryption_key="string",
            master_pubkey="string",
            fingerprint="string",
            **_BACKUP_OPTS,
        ),
        "zfspool": _storage_type(
            "zfspool",
            ("pool",),
            pool="string",
            blocksize="string",
            sparse="boolean",
            mountpoint="string",
        ),
    },
)


# --- API views ------------------------------------------------------------------------------------


def rules_to_api(cfg: SectionConfig) -> list[dict[str, Any]]:
    """``GET /cluster/ha/rules`` items: ``order`` = file position, ``strict`` filled as 0 for
    node-affinity rules; ``disable`` only when set (as PVE 9 returns them)."""
    out: list[dict[str, Any]] = []
    for pos, section in enumerate(cfg, start=1):
        item = section.to_api(HA_RULES)
        if section.type == "node-affinity":
            item.setdefault("strict", 0)
        if not item.get("disable"):
            item.pop("disable", None)
        item["order"] = pos
        item["digest"] = cfg.digest
        out.append(item)
    return out


def storage_to_api(section: Section) -> dict[str, Any]:
    """``GET /storage`` item: defaults PVE fills in when reading (``content``, ``shared``)."""
    item = section.to_api(STORAGE)
    content = item.get("content")
    if content is None:
        content = DEFAULT_CONTENT.get(section.type)
    if content is not None:
        item["content"] = content or "none"
    if section.type in SHARED_STORAGE_TYPES:
        item["shared"] = 1
    return item
