"""corosync.conf: upstream samples parse, PVE's writer layout is reproduced byte for byte, and
the typed view performs ``pvecm`` edits with PVE's checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.lab.formats import corosync
from provision.lab.formats.corosync import ClusterConf, CorosyncError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pve"
SAMPLES = [
    "corosync-1ring.conf",
    "corosync-2rings-4nodes.conf",
    "corosync-1link-knet.conf",
    "corosync-2links-knet.conf",
]
#: files produced by PVE's own writer (pve-cluster round-trip tests): must survive unchanged
PVE_WRITTEN = ["corosync-1ring.conf", "corosync-2rings-4nodes.conf"]

# pve-facts §3.1: `pvecm create prod --link0 10.0.0.1,priority=15 --link1 10.1.0.1,priority=20`
# plus one add. The doc shows it in a code block, which cannot show the writer's final empty
# line (a blank line follows every top-level section; see corosync-1ring.conf).
EXAMPLE_3_1 = """\
logging {
  debug: off
  to_syslog: yes
}

nodelist {
  node {
    name: pve1
    nodeid: 1
    quorum_votes: 1
    ring0_addr: 10.0.0.1
    ring1_addr: 10.1.0.1
  }
  node {
    name: pve2
    nodeid: 2
    quorum_votes: 1
    ring0_addr: 10.0.0.2
    ring1_addr: 10.1.0.2
  }
}

quorum {
  provider: corosync_votequorum
}

totem {
  cluster_name: prod
  config_version: 2
  interface {
    knet_link_priority: 15
    linknumber: 0
  }
  interface {
    knet_link_priority: 20
    linknumber: 1
  }
  ip_version: ipv4-6
  link_mode: passive
  secauth: on
  version: 2
}

"""

QDEVICE_QUORUM = """\
quorum {
  device {
    model: net
    net {
      algorithm: ffsplit
      host: 10.0.0.99
      tls: on
    }
    votes: 1
  }
  provider: corosync_votequorum
}

"""


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


def example_conf() -> ClusterConf:
    conf = ClusterConf.create("prod", "pve1", {0: ("10.0.0.1", 15), 1: ("10.1.0.1", 20)})
    conf.add_node("pve2", {0: "10.0.0.2", 1: "10.1.0.2"})
    return conf


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_parses_into_sections(name: str) -> None:
    tree = corosync.parse(read(name))
    assert set(tree) == {"logging", "nodelist", "quorum", "totem"}
    assert tree["quorum"] == {"provider": "corosync_votequorum"}
    assert tree["logging"] == {"debug": "off", "to_syslog": "yes"}
    assert isinstance(tree["nodelist"]["node"], list)
    assert isinstance(tree["totem"]["interface"], list)
    assert tree["totem"]["secauth"] == "on"


def test_single_ring_sample_values_are_raw_strings() -> None:
    tree = corosync.parse(read("corosync-1ring.conf"))
    assert tree["nodelist"]["node"] == [
        {"name": "prox1", "nodeid": "1", "quorum_votes": "1", "ring0_addr": "prox1"}
    ]
    assert tree["totem"]["interface"] == [{"bindnetaddr": "192.168.0.42", "ringnumber": "0"}]
    assert tree["totem"]["config_version"] == "1"
    assert tree["totem"]["ip_version"] == "ipv4"


def test_two_ring_sample_keeps_both_rings_per_node() -> None:
    tree = corosync.parse(read("corosync-2rings-4nodes.conf"))
    nodes = tree["nodelist"]["node"]
    assert [n["name"] for n in nodes] == ["prox1", "prox2", "prox3", "prox4"]
    assert nodes[2]["ring1_addr"] == "prox3-ring1"
    assert [i["ringnumber"] for i in tree["totem"]["interface"]] == ["0", "1"]
    assert tree["totem"]["interface"][1]["bindnetaddr"] == "192.168.1.42"


def test_knet_samples_blank_lines_inside_sections_are_ignored() -> None:
    tree = corosync.parse(read("corosync-2links-knet.conf"))
    assert [n["name"] for n in tree["nodelist"]["node"]] == ["due", "tre", "uno"]
    assert tree["nodelist"]["node"][2] == {
        "name": "uno",
        "nodeid": "1",
        "quorum_votes": "1",
        "ring0_addr": "10.10.10.1",
        "ring1_addr": "10.20.20.1",
    }
    assert tree["totem"]["interface"] == [{"linknumber": "0"}, {"linknumber": "1"}]
    assert tree["totem"]["cluster_name"] == "testcluster"


@pytest.mark.parametrize("name", PVE_WRITTEN)
def test_pve_written_samples_round_trip_byte_for_byte(name: str) -> None:
    text = read(name)
    assert corosync.write(corosync.parse(text)) == text


@pytest.mark.parametrize("name", SAMPLES)
def test_typed_view_is_lossless(name: str) -> None:
    tree = corosync.parse(read(name))
    assert ClusterConf.from_dict(tree).to_text() == corosync.write(tree)


def test_docs_knet_example_is_rewritten_in_pve_layout() -> None:
    # the admin-guide block has blank lines inside sections and interface last; PVE's writer
    # drops those, sorts totem keys and puts the nodes in name order
    out = corosync.write(corosync.parse(read("corosync-1link-knet.conf")))
    assert out == (
        "logging {\n  debug: off\n  to_syslog: yes\n}\n\n"
        "nodelist {\n"
        "  node {\n    name: due\n    nodeid: 2\n    quorum_votes: 1\n    ring0_addr: 10.10.10.2\n  }\n"
        "  node {\n    name: tre\n    nodeid: 3\n    quorum_votes: 1\n    ring0_addr: 10.10.10.3\n  }\n"
        "  node {\n    name: uno\n    nodeid: 1\n    quorum_votes: 1\n    ring0_addr: 10.10.10.1\n  }\n"
        "}\n\n"
        "quorum {\n  provider: corosync_votequorum\n}\n\n"
        "totem {\n  cluster_name: testcluster\n  config_version: 4\n"
        "  interface {\n    linknumber: 0\n  }\n"
        "  ip_version: ipv4-6\n  secauth: on\n  version: 2\n}\n\n"
    )


def test_pvecm_create_and_add_write_the_reference_example_exactly() -> None:
    assert example_conf().to_text() == EXAMPLE_3_1


def test_reference_example_round_trips() -> None:
    assert corosync.write(corosync.parse(EXAMPLE_3_1)) == EXAMPLE_3_1


def test_writer_sorts_nodes_by_name_and_interfaces_by_link_number() -> None:
    tree = corosync.parse(EXAMPLE_3_1)
    tree["nodelist"]["node"].reverse()
    tree["totem"]["interface"].reverse()
    assert corosync.write(tree) == EXAMPLE_3_1


def test_qdevice_setup_writes_the_ffsplit_quorum_block() -> None:
    conf = example_conf()
    conf.setup_qdevice("10.0.0.99")
    text = conf.to_text()
    assert QDEVICE_QUORUM in text
    assert "config_version: 3\n" in text
    # and it parses back into the same device
    again = ClusterConf.from_text(text)
    assert again.qdevice is not None
    assert (again.qdevice.host, again.qdevice.algorithm, again.qdevice.votes) == ("10.0.0.99", "ffsplit", 1)
    assert again.to_text() == text


def test_qdevice_on_odd_cluster_needs_force_and_uses_lms_without_votes() -> None:
    conf = example_conf()
    conf.add_node("pve3", {0: "10.0.0.3", 1: "10.1.0.3"})
    with pytest.raises(CorosyncError, match="odd node count"):
        conf.setup_qdevice("10.0.0.99")
    conf.setup_qdevice("10.0.0.99", force=True)
    text = conf.to_text()
    assert "      algorithm: lms\n" in text
    assert "votes: 1\n  }\n  provider" not in text
    assert "    model: net\n    net {" in text
    with pytest.raises(CorosyncError, match="QDevice already configured"):
        conf.setup_qdevice("10.0.0.98", force=True)
    conf.remove_qdevice()
    assert "device" not in conf.to_text()
    with pytest.raises(CorosyncError, match="No QDevice configured"):
        conf.remove_qdevice()


def test_create_omits_zero_priority_and_writes_token_coefficient() -> None:
    conf = ClusterConf.create("c1", "n1", {0: ("192.168.1.1", 0)}, token_coefficient=125)
    tree = conf.to_dict()
    assert tree["totem"]["interface"] == [{"linknumber": "0"}]
    assert tree["totem"]["token_coefficient"] == "125"
    assert tree["totem"]["config_version"] == "1"
    assert tree["nodelist"]["node"] == [
        {"name": "n1", "nodeid": "1", "quorum_votes": "1", "ring0_addr": "192.168.1.1"}
    ]


def test_add_node_picks_lowest_free_nodeid_and_bumps_version() -> None:
    conf = example_conf()
    conf.add_node("pve4", {0: "10.0.0.4", 1: "10.1.0.4"}, nodeid=4)
    node = conf.add_node("pve3", {0: "10.0.0.3", 1: "10.1.0.3"})
    assert node.nodeid == 3
    assert conf.config_version == 4
    assert conf.total_votes == 4


def test_add_node_with_zero_votes_has_no_quorum_votes_line() -> None:
    conf = example_conf()
    conf.add_node("witness", {0: "10.0.0.9", 1: "10.1.0.9"}, votes=0)
    entry = next(n for n in conf.to_dict()["nodelist"]["node"] if n["name"] == "witness")
    assert "quorum_votes" not in entry


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ({0: "10.0.0.1", 1: "10.1.0.3"}, "address '10.0.0.1' already used on link ring0_addr by node 'pve1'"),
        ({0: "10.0.0.3"}, "link 1 exists in cluster config but wasn't specified for new node"),
        ({0: "10.0.0.3", 1: "10.1.0.3", 2: "10.2.0.3"}, "link 2 specified for new node doesn't exist"),
    ],
)
def test_add_node_refuses_what_pve_refuses(links: dict[int, str], message: str) -> None:
    conf = example_conf()
    with pytest.raises(CorosyncError, match=message):
        conf.add_node("pve3", links)
    assert conf.config_version == 2


def test_readding_existing_node_needs_force_and_matching_ids() -> None:
    conf = example_conf()
    with pytest.raises(CorosyncError, match="can't add existing node 'pve2'"):
        conf.add_node("pve2", {0: "10.0.0.2", 1: "10.1.0.2"})
    with pytest.raises(CorosyncError, match="can't add existing node"):
        conf.add_node("pve2", {0: "10.0.0.2", 1: "10.1.0.2"}, nodeid=7, force=True)
    conf.add_node("pve2", {0: "10.0.0.22", 1: "10.1.0.22"}, force=True)
    assert conf.node("pve2") is not None
    assert conf.node("pve2").addrs == {0: "10.0.0.22", 1: "10.1.0.22"}  # type: ignore[union-attr]
    assert [n.name for n in conf.nodes].count("pve2") == 1


def test_delnode_by_name_or_ring_address() -> None:
    conf = example_conf()
    conf.add_node("pve3", {0: "10.0.0.3", 1: "10.1.0.3"})
    assert conf.remove_node("10.1.0.3").name == "pve3"
    assert conf.remove_node("pve2").nodeid == 2
    assert [n.name for n in conf.nodes] == ["pve1"]
    assert conf.config_version == 5
    with pytest.raises(CorosyncError, match=r"Node/IP: ghost is not a known host of the cluster\."):
        conf.remove_node("ghost")


def test_legacy_ringnumber_interfaces_stay_ringnumber() -> None:
    conf = ClusterConf.from_text(read("corosync-1ring.conf"))
    assert conf.links == {0: None}
    conf.add_node("prox2", {0: "prox2"})
    tree = conf.to_dict()
    assert tree["totem"]["interface"] == [{"bindnetaddr": "192.168.0.42", "ringnumber": "0"}]
    assert tree["totem"]["config_version"] == "2"


def test_api_views_keep_strings_and_key_interfaces_by_link() -> None:
    conf = example_conf()
    assert conf.nodes[0].to_api() == {
        "node": "pve1",
        "name": "pve1",
        "nodeid": "1",
        "quorum_votes": "1",
        "ring0_addr": "10.0.0.1",
        "ring1_addr": "10.1.0.1",
    }
    totem = conf.totem_api()
    assert totem["interface"] == {
        "0": {"linknumber": "0", "knet_link_priority": "15"},
        "1": {"linknumber": "1", "knet_link_priority": "20"},
    }
    assert totem["config_version"] == "2"
    assert totem["link_mode"] == "passive"


def test_parser_accepts_comments_and_brace_placement_variants() -> None:
    text = (
        "# managed by hand\n"
        "totem{ version: 2   # trailing comment\n"
        "  cluster_name: x config_version: 3\n"
        "  interface\n  {\n linknumber: 0 }\n"
        "}\n"
        "nodelist { node { name: a nodeid: 1 ring0_addr: 10.0.0.1 } }\n"
    )
    tree = corosync.parse(text)
    assert tree == {
        "totem": {
            "version": "2",
            "cluster_name": "x",
            "config_version": "3",
            "interface": [{"linknumber": "0"}],
        },
        "nodelist": {"node": [{"name": "a", "nodeid": "1", "ring0_addr": "10.0.0.1"}]},
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("totem {\n  version 2\n}\n", "missing ':' after key 'version'"),
        ("totem {\n}\n}\n", "unexpected '}'"),
        ("totem {\n}\ntotem {\n}\n", "section 'totem' already exists and not marked as array"),
        ("totem {\n  version:\n}\n", "no value for 'version'"),
        ("totem {\n  version: 2\n", "missing '}'"),
    ],
)
def test_parse_errors_use_pve_wording(text: str, message: str) -> None:
    with pytest.raises(CorosyncError, match=message):
        corosync.parse(text)


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        corosync.write({"totem": {"bad": None}})
