"""Property tests: PVE's writers are fixed points of read-after-write.

For generated section configs and interfaces files, ``write(parse(write(x))) == write(x)``:
what the lab writes must read back into the same configuration, or every later API edit would
drift the file. Generators stay within what PVE's API would accept (valid names, values without
line feeds or surrounding blanks, consistent MTUs), since PVE's own writer is only idempotent
on such input too.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provision.lab.formats import corosync, sectionconfig
from provision.lab.formats.sectionconfig import Schema, Section, SectionConfig
from provision.pveformat import interfaces
from provision.pveformat.interfaces import Iface, InterfacesConfig

ident = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
node = st.from_regex(r"pve[0-9]{1,2}", fullmatch=True)
word = st.from_regex(r"[A-Za-z0-9_./=@-]{1,12}", fullmatch=True)
# printable text without leading/trailing blanks (section values are trimmed on read)
text = st.from_regex(r"[!-~](?:[ -~]{0,20}[!-~])?", fullmatch=True)
sid = st.builds(lambda t, n: f"{t}:{n}", st.sampled_from(["vm", "ct"]), st.integers(100, 999))


def prop_value(kind: str) -> st.SearchStrategy[str]:
    if kind == "boolean":
        return st.sampled_from(["0", "1"])
    if kind == "integer":
        return st.integers(0, 10).map(str)
    if kind == "sid-list":
        return st.lists(sid, min_size=1, max_size=4).map(",".join)
    if kind in ("node-priorities", "node-list"):
        return st.dictionaries(node, st.integers(0, 5), min_size=1, max_size=4).map(
            lambda d: sectionconfig.format_node_list(d, sort=False)
        )
    if kind == "list":
        return st.lists(word, min_size=1, max_size=3, unique=True).map(",".join)
    if kind == "text":
        return text
    return text


@st.composite
def section_configs(draw: st.DrawFn, schema: Schema) -> SectionConfig:
    cfg = SectionConfig()
    for _ in range(draw(st.integers(0, 5))):
        type_ = draw(st.sampled_from(sorted(schema.types)))
        stype = schema.types[type_]
        name = str(draw(st.integers(100, 999))) if schema.id_includes_type else draw(ident)
        section = Section(type_, schema.section_id(type_, name))
        for key, prop in sorted(stype.props.items()):
            if prop.required or draw(st.booleans()):
                section.props[key] = draw(prop_value(prop.kind))
        if section.id not in cfg:
            cfg.add(section)
    return cfg


SCHEMAS = [sectionconfig.HA_RESOURCES, sectionconfig.HA_GROUPS, sectionconfig.HA_RULES, sectionconfig.STORAGE]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SCHEMAS).flatmap(lambda s: st.tuples(st.just(s), section_configs(s))))
def test_section_config_write_is_a_fixed_point(case: tuple[Schema, SectionConfig]) -> None:
    schema, cfg = case
    first = sectionconfig.write(cfg, schema)
    parsed = sectionconfig.parse(first, schema)
    assert parsed.errors == []
    assert parsed.ids() == cfg.ids()
    assert sectionconfig.write(parsed, schema) == first


@st.composite
def interface_configs(draw: st.DrawFn) -> InterfacesConfig:
    """A node: NICs, bonds over disjoint NIC sets, bridges over the rest, VLANs on bridges."""
    nics = [f"eno{i}" for i in range(1, draw(st.integers(2, 7)))]
    cfg = interfaces.parse("", physical=nics)
    free = list(nics)
    jumbo = draw(st.booleans())
    for nic in nics:
        if jumbo and draw(st.booleans()):
            cfg[nic].settings["mtu"] = "9000"
        cfg[nic].autostart = draw(st.booleans())

    bonds: list[str] = []
    for b in range(draw(st.integers(0, 2))):
        if len(free) < 2:
            break
        count = draw(st.integers(1, len(free) - 1))
        slaves, free = free[:count], free[count:]
        mode = draw(st.sampled_from(sorted(interfaces.BOND_MODES)))
        settings_: dict[str, str] = {"slaves": " ".join(slaves), "bond_mode": mode}
        if draw(st.booleans()):
            settings_["bond_xmit_hash_policy"] = draw(st.sampled_from(["layer2", "layer2+3", "layer3+4"]))
        if mode == "active-backup" and draw(st.booleans()):
            settings_["bond-primary"] = draw(st.sampled_from(slaves))
        if jumbo:
            settings_["mtu"] = "9000"
        cfg.add(Iface(f"bond{b}", "bond", autostart=True, settings=settings_))
        bonds.append(f"bond{b}")

    ports = bonds + free[1:]  # keep one NIC free for an address
    gateway_used = False
    bridges: list[str] = []
    for b in range(draw(st.integers(0, 3))):
        picks = draw(st.lists(st.booleans(), min_size=len(ports), max_size=len(ports)))
        mine = [p for p, pick in zip(ports, picks, strict=True) if pick]
        ports = [p for p in ports if p not in mine]
        settings_ = {"bridge_ports": " ".join(sorted(mine))}
        if draw(st.booleans()):
            settings_["bridge_vlan_aware"] = "1"
            if draw(st.booleans()):
                settings_["bridge_vids"] = draw(st.sampled_from(["2-4094", "10 20 30", "100-200"]))
        if draw(st.booleans()):
            settings_["mtu"] = "1500"
        bridge = Iface(f"vmbr{b}", "bridge", autostart=draw(st.booleans()), settings=settings_)
        if draw(st.booleans()):
            gw = None
            if not gateway_used and draw(st.booleans()):
                gw, gateway_used = f"10.{b}.0.1", True
            bridge.set_cidr(f"10.{b}.0.{draw(st.integers(2, 254))}/{draw(st.integers(8, 30))}", gateway=gw)
        if draw(st.booleans()):
            bridge.comments = draw(text) + "\n"
        if draw(st.booleans()):
            bridge.options.append(f"post-up {draw(word)}")
        cfg.add(bridge)
        bridges.append(f"vmbr{b}")

    for bridge_name in bridges:
        for vid in draw(st.lists(st.integers(2, 4094), max_size=2, unique=True)):
            vlan = Iface(f"{bridge_name}.{vid}", "vlan", autostart=True)
            if draw(st.booleans()):
                vlan.set_cidr(f"172.16.{vid % 256}.2/24")
            if draw(st.booleans()):
                vlan.settings["mtu"] = "1400"
            cfg.add(vlan)

    address_nic = draw(st.booleans())
    if free and address_nic:
        cfg[free[0]].set_cidr(f"192.168.{draw(st.integers(0, 255))}.5/24")
    return cfg


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(interface_configs())
def test_interfaces_write_is_a_fixed_point(cfg: InterfacesConfig) -> None:
    first = interfaces.write(cfg)
    again = interfaces.parse(first)
    assert interfaces.write(again) == first
    # and what was configured is what is read back
    for name, iface in cfg.ifaces.items():
        assert again[name].type == iface.type
        assert again[name].cidr == iface.cidr
        assert again[name].slaves == sorted(iface.slaves)


tokens = st.from_regex(r"[a-z0-9_.-]{1,8}", fullmatch=True)


def corosync_trees(depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    leaf: st.SearchStrategy[Any] = tokens
    if depth == 0:
        return st.dictionaries(tokens, leaf, max_size=4)
    child = corosync_trees(depth - 1)
    return st.dictionaries(
        tokens.filter(lambda k: k not in corosync.ARRAY_SECTIONS),
        st.one_of(leaf, child),
        max_size=4,
    )


@settings(max_examples=100)
@given(corosync_trees())
def test_corosync_write_is_a_fixed_point(tree: dict[str, Any]) -> None:
    first = corosync.write(tree)
    assert corosync.parse(first) == tree
    assert corosync.write(corosync.parse(first)) == first
