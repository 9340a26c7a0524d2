"""/etc/network/interfaces: upstream pve-common test files round-trip or rewrite exactly as PVE
does, stanza types and API fields match pve-facts §1.7, and PVE's write-time checks refuse bad
configurations with PVE's messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.pveformat import interfaces as ni
from provision.pveformat.interfaces import HEADER, Iface, InterfacesConfig, InterfacesError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pve"


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


def lab_node() -> InterfacesConfig:
    """A blank lab node per docs/lab-contract.md: vmbr0 on eno1, other NICs unconfigured."""
    text = HEADER + (
        "auto lo\niface lo inet loopback\n\n"
        "iface eno1 inet manual\n\n"
        "auto vmbr0\niface vmbr0 inet static\n\taddress 192.168.10.11/24\n\tgateway 192.168.10.1\n"
        "\tbridge-ports eno1\n\tbridge-stp off\n\tbridge-fd 0\n\n"
    )
    return ni.parse(text, physical=["eno1", "eno2", "eno3", "eno4", "enp65s0f0", "enp65s0f1"])


# --- upstream files -------------------------------------------------------------------------------


def test_vlan_file_round_trips_byte_identical() -> None:
    text = read("interfaces-vlans.roundtrip")
    assert ni.write(ni.parse(text)) == text


def test_bonds_bridges_change_bond1_address_gives_upstream_expected() -> None:
    cfg = ni.parse(read("interfaces-bonds-bridges.input"))
    cfg["bond1"].set_cidr("10.10.10.11/24")
    assert ni.write(cfg) == read("interfaces-bonds-bridges.expected")


def test_bonds_bridges_input_is_already_in_pve_layout() -> None:
    text = read("interfaces-bonds-bridges.input")
    assert ni.write(ni.parse(text, physical=[f"eth{i}" for i in range(6)])) == text


def test_bond_mtu_vxlan_expected_parses_and_rewrites_identically() -> None:
    text = read("interfaces-bond-mtu-vxlan.expected")
    cfg = ni.parse(text)
    assert ni.write(cfg) == text
    types = {name: d.type for name, d in cfg.ifaces.items()}
    assert types["bond0"] == "bond"
    assert types["bond1"] == "OVSBond"
    assert types["vmbr6"] == "OVSBridge"
    assert types["ovsintvlan"] == "OVSIntPort"
    assert types["vxlan1"] == types["vxlan3"] == "vxlan"
    assert types["eth1.100"] == types["bond0.100"] == types["bond0.100.10"] == types["vmbr1.100"] == "vlan"
    assert cfg["bond1"].settings["bond_mode"] == "active-backup"
    assert cfg["ovsintvlan"].settings["ovs_tag"] == "14"
    assert "ovs_options" not in cfg["ovsintvlan"].settings
    assert cfg["vmbr6"].settings["mtu"] == "1400"  # from ovs_mtu
    assert cfg["vxlan3"].vxlan_remoteip == ["192.168.0.3", "192.168.0.4"]
    assert cfg["vmbr3"].settings["bridge_vids"] == "2-10"
    assert cfg.lines == [(3, "source-directory interfaces.d")]


def test_legacy_brbase_is_rewritten_in_the_new_style() -> None:
    out = ni.write(ni.parse(read("interfaces-legacy-brbase.input")))
    assert out == HEADER + (
        "auto lo\n"
        "iface lo inet loopback\n"
        "\n"
        "source-directory interfaces.d\n"
        "\n"
        "iface eth0 inet manual\n"
        "\n"
        "auto vmbr0\n"
        "iface vmbr0 inet static\n"
        "\taddress 10.0.0.2/24\n"
        "\tgateway 10.0.0.1\n"
        "\tbridge-ports eth0\n"
        "\tbridge-stp off\n"
        "\tbridge-fd 0\n"
        "\n"
    )


def test_legacy_brbase_with_physical_nics_adds_missing_ones_like_pve() -> None:
    # pve-common's create_network test reads brbase with eth0..eth5 present
    out = ni.write(ni.parse(read("interfaces-legacy-brbase.input"), physical=[f"eth{i}" for i in range(6)]))
    assert "iface eth0 inet manual\n\niface eth1 inet manual\n\n" in out
    assert out.index("iface eth5 inet manual\n\nauto vmbr0\n") > 0
    assert "auto eth1" not in out


def test_legacy_address_netmask_reported_as_cidr() -> None:
    cfg = ni.parse(read("interfaces-legacy-brbase.input"))
    item = ni.to_api(cfg["vmbr0"])
    assert (item["address"], item["netmask"], item["cidr"], item["gateway"]) == (
        "10.0.0.2",
        "24",
        "10.0.0.2/24",
        "10.0.0.1",
    )
    assert item["bridge_ports"] == "eth0"


def test_sdn_generated_typeless_stanzas_parse() -> None:
    cfg = ni.parse(read("interfaces-sdn-vlan-mtu.generated"))
    assert cfg["myvnet"].type == "bridge"
    assert cfg["myvnet"].families == [None]
    assert cfg["vmbr0v100"].settings["bridge_ports"] == "eth0.100 pr_myvnet"
    assert cfg["ln_myvnet"].settings == {"link-type": "veth", "mtu": "9200"}
    assert cfg["ln_myvnet"].options == ["veth-peer-name pr_myvnet"]
    assert cfg["ln_myvnet"].type == "unknown"
    assert all(cfg[n].autostart for n in ("ln_myvnet", "myvnet", "pr_myvnet", "vmbr0v100"))
    # PVE's own writer refuses it: the implicit eth0.100 port (1500) is smaller than the bridge
    with pytest.raises(InterfacesError, match=r"interface 'eth0\.100' - mtu 1500 is lower than 'vmbr0v100' - mtu 9200"):
        ni.write(cfg)


def test_typeless_stanza_written_without_family() -> None:
    text = "auto dummy0\niface dummy0\n\tlink-type dummy\n\tpre-up true\n"
    cfg = ni.parse(text + "\niface eno1 inet manual\n")
    assert cfg["dummy0"].type == "dummy"
    # a dummy sorts in the loopback class: after the synthesised lo, before the NICs
    assert ni.write(cfg) == HEADER + (
        "auto lo\niface lo inet loopback\n\n"
        "auto dummy0\niface dummy0\n\tlink-type dummy\n\tpre-up true\n\n"
        "iface eno1 inet manual\n\n"
    )


# --- types ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stanza", "name", "expected"),
    [
        ("iface vmbr7 inet manual\n\tbridge-ports none\n", "vmbr7", "bridge"),
        ("iface br-x inet manual\n\tbridge_ports eno1\n", "br-x", "bridge"),
        ("iface bond3 inet manual\n\tbond-slaves eno1\n", "bond3", "bond"),
        ("iface mybond inet manual\n\tbond-slaves eno1\n", "mybond", "unknown"),  # must be bondN
        ("iface eno1.50 inet manual\n", "eno1.50", "vlan"),
        ("iface mgmt inet manual\n\tvlan-raw-device eno1\n\tvlan-id 5\n", "mgmt", "vlan"),
        ("iface vlan9 inet manual\n\tvlan-raw-device eno1\n", "vlan9", "vlan"),
        ("iface eno1:1 inet static\n\taddress 10.1.1.1/24\n", "eno1:1", "alias"),
        ("iface enp65s0f1 inet manual\n", "enp65s0f1", "eth"),
        ("iface nic3 inet manual\n", "nic3", "eth"),
        ("iface weird0 inet manual\n", "weird0", "unknown"),
        ("iface lo inet loopback\n", "lo", "loopback"),
    ],
)
def test_type_detection(stanza: str, name: str, expected: str) -> None:
    assert ni.parse(stanza)[name].type == expected


def test_physical_list_makes_unusual_names_eth() -> None:
    assert ni.parse("iface weird0 inet manual\n", physical=["weird0"])["weird0"].type == "eth"


def test_vlan_ids_and_raw_device_are_derived_from_names() -> None:
    cfg = ni.parse(
        "iface eno1 inet manual\n\niface eno1.50 inet manual\n\niface vlan9 inet manual\n\tvlan-raw-device eno1\n"
    )
    assert cfg["eno1.50"].settings == {"vlan-raw-device": "eno1", "vlan-id": "50"}
    assert cfg["vlan9"].settings == {"vlan-raw-device": "eno1", "vlan-id": "9"}
    out = ni.write(cfg)
    # derived keys are not written back for x.N / vlanN names
    assert "iface eno1.50 inet manual\n\n" in out
    assert "iface vlan9 inet manual\n\tvlan-raw-device eno1\n\n" in out


def test_numeric_bond_mode_and_stp_spelling_normalised() -> None:
    cfg = ni.parse(
        "iface eno1 inet manual\niface eno2 inet manual\n"
        "iface bond0 inet manual\n\tbond_slaves eno2 eno1 eno2\n\tbond_mode 4\n\tbond_xmit_hash_policy layer2+3\n"
        "iface vmbr0 inet manual\n\tbridge_ports bond0\n\tbridge_stp yes\n\tbridge_fd 15\n"
    )
    assert cfg["bond0"].settings["slaves"] == "eno1 eno2"
    assert cfg["bond0"].settings["bond_mode"] == "802.3ad"
    assert cfg["vmbr0"].settings["bridge_stp"] == "on"
    out = ni.write(cfg)
    assert (
        "iface bond0 inet manual\n\tbond-slaves eno1 eno2\n\tbond-miimon 100\n\tbond-mode 802.3ad\n"
        "\tbond-xmit-hash-policy layer2+3\n\n"
    ) in out
    assert "\tbridge-ports bond0\n\tbridge-stp on\n\tbridge-fd 15\n\n" in out


# --- writer -------------------------------------------------------------------------------------------


def test_reference_bond_bridge_example() -> None:
    # pve-facts §3.3: bond over two NICs + VLAN-aware bridge, created through the API model
    cfg = ni.parse("iface eno1 inet manual\n\niface eno2 inet manual\n")
    cfg.add(
        Iface(
            name="bond0",
            type="bond",
            autostart=True,
            settings={
                "slaves": "eno1 eno2",
                "bond_mode": "802.3ad",
                "bond_xmit_hash_policy": "layer3+4",
                "bond_miimon": "100",
                "mtu": "9000",
            },
        )
    )
    bridge = Iface(
        name="vmbr0",
        type="bridge",
        autostart=True,
        settings={"bridge_ports": "bond0", "bridge_vlan_aware": "1", "mtu": "9000"},
    )
    bridge.set_cidr("10.0.0.2/24", gateway="10.0.0.1")
    cfg.add(bridge)
    assert ni.write(cfg) == HEADER + (
        "auto lo\niface lo inet loopback\n\n"
        "auto eno1\niface eno1 inet manual\n\n"
        "auto eno2\niface eno2 inet manual\n\n"
        "auto bond0\niface bond0 inet manual\n"
        "\tbond-slaves eno1 eno2\n\tbond-miimon 100\n\tbond-mode 802.3ad\n"
        "\tbond-xmit-hash-policy layer3+4\n\tmtu 9000\n\n"
        "auto vmbr0\niface vmbr0 inet static\n"
        "\taddress 10.0.0.2/24\n\tgateway 10.0.0.1\n"
        "\tbridge-ports bond0\n\tbridge-stp off\n\tbridge-fd 0\n"
        "\tbridge-vlan-aware yes\n\tbridge-vids 2-4094\n\tmtu 9000\n\n"
    )


@pytest.mark.parametrize(
    ("mode", "lines"),
    [
        ("active-backup", ["\tbond-mode active-backup\n", "\tbond-primary eno2\n"]),
        ("balance-xor", ["\tbond-mode balance-xor\n", "\tbond-xmit-hash-policy layer2\n"]),
        ("balance-alb", ["\tbond-mode balance-alb\n"]),
        (None, ["\tbond-mode balance-rr\n"]),
    ],
)
def test_bond_lines_only_where_the_mode_uses_them(mode: str | None, lines: list[str]) -> None:
    cfg = lab_node()
    settings = {"slaves": "eno2,eno3", "bond_xmit_hash_policy": "layer2", "bond-primary": "eno2"}
    if mode:
        settings["bond_mode"] = mode
    cfg.add(Iface(name="bond0", type="bond", settings=settings))
    out = ni.write(cfg)
    stanza = out[out.index("iface bond0") :].split("\n\n")[0] + "\n"
    expected = "iface bond0 inet manual\n\tbond-slaves eno2 eno3\n\tbond-miimon 100\n" + "".join(lines)
    assert stanza == expected
    # slaves are auto-marked
    assert "auto eno2\niface eno2 inet manual\n" in out
    assert "auto eno3\niface eno3 inet manual\n" in out
    assert "auto eno4" not in out


def test_empty_bridge_writes_none_ports() -> None:
    cfg = lab_node()
    cfg.add(Iface(name="vmbr9", type="bridge", autostart=True, settings={"bridge_ports": ""}))
    out = ni.write(cfg)
    assert "auto vmbr9\niface vmbr9 inet manual\n\tbridge-ports none\n\tbridge-stp off\n\tbridge-fd 0\n\n" in out
    again = ni.parse(out)
    assert again["vmbr9"].type == "bridge"
    assert ni.write(again) == out


def test_lab_blank_node_layout_and_ordering_of_new_interfaces() -> None:
    cfg = lab_node()
    cfg.add(Iface(name="vmbr1", type="bridge", settings={"bridge_ports": "bond0"}, autostart=True))
    cfg.add(Iface(name="bond0", type="bond", settings={"slaves": "enp65s0f0 enp65s0f1"}, autostart=True))
    cfg.add(Iface(name="vmbr1.30", type="vlan", autostart=True))
    out = ni.write(cfg)
    order = [line.split()[1] for line in out.splitlines() if line.startswith("iface ")]
    assert order == [
        "lo",
        "eno1",
        "eno2",
        "eno3",
        "eno4",
        "enp65s0f0",
        "enp65s0f1",
        "bond0",
        "vmbr0",
        "vmbr1",
        "vmbr1.30",
    ]


def test_comments_and_unknown_options_preserved_in_place() -> None:
    text = (
        "iface eno1 inet manual\n"
        "auto vmbr0\n"
        "iface vmbr0 inet static\n"
        "\taddress 10.0.0.2/24\n"
        "# uplink to core\n"
        "\tpost-up ip route add 10.9.0.0/16 via 10.0.0.254\n"
        "\tbridge-ports eno1\n"
        "\thwaddress aa:bb:cc:dd:ee:ff\n"
        "#   second comment   \n"
        "\n"
        "# a top-level comment is dropped\n"
        "source /etc/network/interfaces.d/*\n"
    )
    cfg = ni.parse(text)
    assert cfg["vmbr0"].comments == " uplink to core\n   second comment\n"
    assert cfg["vmbr0"].options == ["post-up ip route add 10.9.0.0/16 via 10.0.0.254", "hwaddress aa:bb:cc:dd:ee:ff"]
    out = ni.write(cfg)
    assert out.endswith(
        "auto vmbr0\niface vmbr0 inet static\n\taddress 10.0.0.2/24\n"
        "\tbridge-ports eno1\n\tbridge-stp off\n\tbridge-fd 0\n"
        "\tpost-up ip route add 10.9.0.0/16 via 10.0.0.254\n\thwaddress aa:bb:cc:dd:ee:ff\n"
        "# uplink to core\n#   second comment\n\n"
        "source /etc/network/interfaces.d/*\n"
    )
    assert "top-level comment" not in out
    assert ni.write(ni.parse(out)) == out


def test_inet6_stanza_kept_with_its_own_options() -> None:
    text = (
        "auto vmbr0\niface vmbr0 inet static\n\taddress 10.0.0.2/24\n\tbridge-ports eno1\n\n"
        "iface vmbr0 inet6 static\n\taddress fd00::2/64\n\tgateway fd00::1\n\tpost-up echo six\n\n"
        "iface eno1 inet manual\n"
    )
    cfg = ni.parse(text)
    assert cfg["vmbr0"].families == ["inet", "inet6"]
    assert cfg["vmbr0"].cidr6 == "fd00::2/64"
    out = ni.write(cfg)
    assert (
        "auto vmbr0\niface vmbr0 inet static\n\taddress 10.0.0.2/24\n\tbridge-ports eno1\n"
        "\tbridge-stp off\n\tbridge-fd 0\n\n"
        "iface vmbr0 inet6 static\n\taddress fd00::2/64\n\tgateway fd00::1\n\tpost-up echo six\n\n"
    ) in out
    assert ni.write(ni.parse(out)) == out


def test_write_does_not_modify_the_config() -> None:
    cfg = ni.parse(read("interfaces-bond-mtu-vxlan.expected"))
    before = repr(cfg)
    ni.write(cfg)
    assert repr(cfg) == before


# --- checks -------------------------------------------------------------------------------------------


def add(cfg: InterfacesConfig, iface: Iface) -> InterfacesConfig:
    cfg.add(iface)
    return cfg


@pytest.mark.parametrize(
    ("iface", "message"),
    [
        (Iface("bond0", "bond", settings={"slaves": "eno2 eno9"}), "bond 'bond0' - unable to find slave 'eno9'"),
        (
            Iface("bond0", "bond", settings={"slaves": "eno2 vmbr0"}),
            r"bond 'bond0' - wrong interface type on slave 'vmbr0' \('bridge' != 'eth or bond'\)",
        ),
        (
            Iface(
                "bond0", "bond", settings={"slaves": "eno2 eno3", "bond_mode": "active-backup", "bond-primary": "eno4"}
            ),
            "bond 'bond0' - bond-primary interface is not a slave",
        ),
        (Iface("vmbr1", "bridge", settings={"bridge_ports": "eno1"}), "port 'eno1' is already used on interface"),
        (
            Iface("vmbr1", "bridge", settings={"bridge_ports": "eno7"}),
            "bridge 'vmbr1' - unable to find bridge port 'eno7'",
        ),
        (Iface("vlan5", "vlan", settings={"vlan-raw-device": "eno9"}), "vlan 'vlan5' - unable to find parent 'eno9'"),
        (Iface("eno2.5000", "vlan"), r"vlan 'eno2.5000' - vlan-id 5000 should be <= 4094"),
        (
            Iface("eno2.10", "vlan", settings={"mtu": "9000"}),
            r"interface 'eno2' - mtu 1500 is lower than 'eno2\.10' - mtu 9000",
        ),
    ],
)
def test_write_checks_refuse_with_pve_messages(iface: Iface, message: str) -> None:
    cfg = add(lab_node(), iface)
    with pytest.raises(InterfacesError, match=message):
        ni.write(cfg)
    with pytest.raises(ValueError, match=message):
        ni.validate(cfg)


def test_bridge_port_with_ip_is_refused() -> None:
    cfg = lab_node()
    cfg["eno2"].set_cidr("10.5.5.5/24")
    cfg.add(Iface("vmbr1", "bridge", settings={"bridge_ports": "eno2"}))
    with pytest.raises(InterfacesError, match="iface eno2 - ip address can't be set on interface if bridged in vmbr1"):
        ni.validate(cfg)


def test_child_mtu_may_not_exceed_bond_or_bridge_port() -> None:
    cfg = lab_node()
    cfg["eno2"].settings["mtu"] = "9000"
    cfg.add(Iface("bond0", "bond", settings={"slaves": "eno2 eno3", "mtu": "1500"}))
    with pytest.raises(InterfacesError, match="interface 'bond0' - mtu 1500 is lower than 'eno2' - mtu 9000"):
        ni.validate(cfg)
    cfg["bond0"].settings["mtu"] = "9000"
    ni.validate(cfg)
    cfg.add(Iface("vmbr1", "bridge", settings={"bridge_ports": "bond0", "mtu": "9216"}))
    with pytest.raises(InterfacesError, match="interface 'bond0' - mtu 9000 is lower than 'vmbr1' - mtu 9216"):
        ni.validate(cfg)


def test_one_default_gateway_per_node() -> None:
    cfg = lab_node()
    ni.check_duplicate_gateway(cfg, "vmbr0")  # the owner may keep/replace it
    with pytest.raises(InterfacesError, match=r"Default gateway already exists on interface 'vmbr0'\."):
        ni.check_duplicate_gateway(cfg, "eno2")
    ni.check_duplicate_gateway(cfg, "eno2", ipv6=True)


# --- API view -----------------------------------------------------------------------------------------


def test_api_fields_for_vlan_aware_bridge() -> None:
    cfg = ni.parse(read("interfaces-vlans.roundtrip"))
    item = ni.to_api(cfg["vmbr0"], physical={"eth0", "eth1"}, active={"vmbr0", "eth0"}, ifaces=cfg.ifaces)
    assert item == {
        "iface": "vmbr0",
        "type": "bridge",
        "method": "static",
        "method6": "manual",
        "families": ["inet"],
        "priority": 5,
        "autostart": 1,
        "active": 1,
        "address": "10.0.0.2",
        "netmask": "24",
        "cidr": "10.0.0.2/24",
        "gateway": "10.0.0.1",
        "bridge_ports": "eth0",
        "bridge_stp": "off",
        "bridge_fd": "0",
        "bridge_vlan_aware": 1,
        "bridge_vids": "2-4094",
    }
    zmgmt = ni.to_api(cfg["zmgmt"], physical={"eth0"}, ifaces=cfg.ifaces)
    assert zmgmt["vlan-raw-device"] == "vmbr0"
    assert zmgmt["vlan-id"] == "1"
    assert zmgmt["exists"] is None  # parent is a bridge, not a NIC
    assert ni.to_api(cfg["eth0"], physical={"eth0"})["exists"] == 1
    assert "exists" not in ni.to_api(cfg["eth0"])


def test_api_fields_for_bond_and_list_filter() -> None:
    cfg = lab_node()
    cfg.add(
        Iface(
            "bond0",
            "bond",
            settings={"slaves": "eno3 eno2", "bond_mode": "active-backup", "bond-primary": "eno3", "mtu": "9000"},
        )
    )
    cfg = ni.parse(ni.write(cfg), physical=["eno1", "eno2", "eno3", "eno4", "enp65s0f0", "enp65s0f1"])
    items = ni.api_list(cfg, physical={"eno1", "eno2", "eno3", "eno4"}, active={"eno1"})
    by_name = {i["iface"]: i for i in items}
    assert "lo" not in by_name
    assert by_name["bond0"]["slaves"] == "eno2 eno3"
    assert by_name["bond0"]["bond_mode"] == "active-backup"
    assert by_name["bond0"]["bond-primary"] == "eno3"
    assert by_name["bond0"]["bond_miimon"] == "100"
    assert by_name["bond0"]["mtu"] == "9000"
    assert by_name["eno2"]["autostart"] == 1 and by_name["eno2"]["exists"] == 1
    assert by_name["eno1"]["active"] == 1
    assert "active" not in by_name["eno2"]
    assert by_name["eno2"]["method"] == "manual"
    assert [i["iface"] for i in ni.api_list(cfg, type_filter="bridge")] == ["vmbr0"]
    assert [i["iface"] for i in ni.api_list(cfg, type_filter="any_bridge")] == ["vmbr0"]
    assert [i["iface"] for i in ni.api_list(cfg, type_filter="bond")] == ["bond0"]


def test_netmask_helper() -> None:
    assert ni.netmask_to_prefix("255.255.255.0") == 24
    assert ni.netmask_to_prefix("255.255.240.0") == 20
    assert ni.netmask_to_prefix("255.0.255.0") is None
    assert ni.netmask_to_prefix("24") is None
