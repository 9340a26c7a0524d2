"""The lab's parse cache answers exactly what a fresh parse of the text answers: after a
handler writes sections (the cache then remembers the written text as parsed, without
parsing it), after a hand-written text, and when callers edit what they were given."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from provision.lab import parsecache
from provision.lab.formats import sectionconfig
from provision.lab.formats.sectionconfig import HA_GROUPS, HA_RESOURCES, HA_RULES, STORAGE, Schema, Section


def _fresh(text: str, schema: Schema) -> list[tuple[str, str, dict[str, str]]]:
    return [(s.type, s.id, s.props) for s in sectionconfig.parse(text, schema)]


def _cached(text: str, schema: Schema) -> list[tuple[str, str, dict[str, str]]]:
    return [(s.type, s.id, s.props) for s in parsecache.read(text, schema)]


ODD = [
    (HA_RESOURCES, [Section("vm", "vm:100", {"state": "started", "max_restart": "2", "comment": "a  b "}),
                    Section("ct", "ct:200", {"failback": "true", "group": ""}),
                    Section("vm", "vm:101", {})]),
    (HA_GROUPS, [Section("group", "web", {"nodes": "pve02:1,pve01:2", "restricted": "yes", "nofailback": "0"})]),
    (HA_RULES, [Section("node-affinity", "r1", {"resources": "vm:101, vm:100", "nodes": "pve02,pve01:3",
                                                "comment": "na: 100%", "disable": "1"}),
                Section("resource-affinity", "r2", {"resources": "vm:1,vm:2", "affinity": "negative"})]),
    (STORAGE, [Section("dir", "local", {"path": "/var/lib/vz", "content": "iso,iso,images", "shared": "off"}),
               Section("weird", "x", {"a": "1", "comment": "c"})]),
]


def test_a_written_text_reads_back_as_a_fresh_parse_would() -> None:
    for schema, sections in ODD:
        text = parsecache.write(sections, schema)
        assert text == sectionconfig.write(sections, schema)
        assert _cached(text, schema) == _fresh(text, schema)
        for s in sections:
            found = parsecache.find(text, schema, s.id)
            assert found is not None and (found.type, found.id, found.props) in _fresh(text, schema)


def test_duplicate_ids_are_parsed_not_remembered() -> None:
    sections = [Section("vm", "vm:7", {"state": "started"}), Section("vm", "vm:7", {"state": "stopped"})]
    text = parsecache.write(sections, HA_RESOURCES)
    assert _cached(text, HA_RESOURCES) == _fresh(text, HA_RESOURCES) == [("vm", "vm:7", {"state": "started"})]


def test_callers_get_their_own_objects() -> None:
    text = "group: g\n\tnodes pve01\n\n"
    first = parsecache.read(text, HA_GROUPS)
    first[0].props["nodes"] = "changed"
    first.append(Section("group", "h"))
    assert _cached(text, HA_GROUPS) == [("group", "g", {"nodes": "pve01"})]
    one = parsecache.find(text, HA_GROUPS, "g")
    assert one is not None
    one.props.clear()
    assert parsecache.find(text, HA_GROUPS, "g") == Section("group", "g", {"nodes": "pve01"})


_names = st.text(alphabet="abcdefgh0123456789-", min_size=1, max_size=6)
_values = st.text(alphabet="abc 01:,%;-\t", max_size=8)


@given(st.lists(st.tuples(st.sampled_from(["dir", "nfs", "rbd", "odd"]), _names,
                          st.dictionaries(st.sampled_from(["path", "content", "shared", "disable", "comment",
                                                           "nodes", "pool", "x"]), _values, max_size=4)),
                max_size=5))
def test_any_storage_sections_read_back_as_a_fresh_parse(items: list[tuple[str, str, dict[str, str]]]) -> None:
    sections = [Section(t, i, dict(p)) for t, i, p in items]
    try:
        text = parsecache.write(sections, STORAGE)
    except sectionconfig.SectionConfigError:
        return  # a section PVE's writer refuses (a required key missing, a line feed)
    assert _cached(text, STORAGE) == _fresh(text, STORAGE)
