"""ceph.conf (``pveceph init``/``mon create`` edits, PVE's section order) and datacenter.cfg
(property strings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.lab.formats import ceph_conf, datacenter
from provision.lab.formats.datacenter import DatacenterError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pve"

INIT_CONF = """\
[global]
\tauth_client_required = cephx
\tauth_cluster_required = cephx
\tauth_service_required = cephx
\tcluster_network = 10.20.0.0/24
\tfsid = 0d2e4a4c-7d5c-4f1e-9a43-3f1b2c6f4a10
\tmon_allow_pool_delete = true
\tosd_pool_default_min_size = 2
\tosd_pool_default_size = 3
\tpublic_network = 10.10.0.0/24

[client]
\tkeyring = /etc/pve/priv/$cluster.$name.keyring

"""

FSID = "0d2e4a4c-7d5c-4f1e-9a43-3f1b2c6f4a10"


def test_pveceph_init_writes_global_and_client() -> None:
    cfg = ceph_conf.pveceph_init({}, fsid=FSID, network="10.10.0.0/24", cluster_network="10.20.0.0/24")
    assert ceph_conf.write(cfg) == INIT_CONF
    assert ceph_conf.parse(INIT_CONF) == cfg


def test_pveceph_init_keeps_existing_global() -> None:
    cfg = ceph_conf.parse(INIT_CONF)
    again = ceph_conf.pveceph_init(cfg, fsid="other", size=2, network="10.30.0.0/24")
    assert again["global"]["fsid"] == FSID
    assert again["global"]["osd_pool_default_size"] == "3"
    assert again["global"]["public_network"] == "10.30.0.0/24"
    assert again["global"]["cluster_network"] == "10.30.0.0/24"
    assert cfg["global"]["public_network"] == "10.10.0.0/24"  # input untouched


def test_init_without_cephx() -> None:
    cfg = ceph_conf.pveceph_init({}, fsid=FSID, disable_cephx=True, size=2, min_size=1)
    assert cfg["global"]["auth_client_required"] == "none"
    assert cfg["global"]["osd_pool_default_size"] == "2"
    assert "client" not in cfg


def test_monitors_extend_mon_host_and_add_sections() -> None:
    cfg = ceph_conf.pveceph_init({}, fsid=FSID, network="10.10.0.0/24")
    cfg = ceph_conf.add_monitor(cfg, "pve01", ["10.10.0.11"])
    text = ceph_conf.write(cfg)
    assert "\tmon_host =  10.10.0.11\n" in text  # PVE's first-monitor string has a leading space
    assert "\tms_bind_ipv4 = true\n\tms_bind_ipv6 = false\n" in text
    assert text.endswith(
        "[client]\n\tkeyring = /etc/pve/priv/$cluster.$name.keyring\n\n"
        "[client.crash]\n\tkeyring = /etc/pve/ceph/$cluster.$name.keyring\n\n"
        "[mon.pve01]\n\tpublic_addr = 10.10.0.11\n\n"
    )
    cfg = ceph_conf.add_monitor(ceph_conf.parse(text), "pve02", ["10.10.0.12"], known_monitors={"pve01": "10.10.0.11"})
    assert cfg["global"]["mon_host"] == "10.10.0.11 10.10.0.12"
    assert cfg["mon.pve02"] == {"public_addr": "10.10.0.12"}
    cfg = ceph_conf.remove_monitor(cfg, "pve01", "10.10.0.11")
    assert cfg["global"]["mon_host"] == "10.10.0.12"
    assert "mon.pve01" not in cfg


def test_remove_monitor_from_vector_mon_host() -> None:
    cfg = {"global": {"mon_host": "[v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0] [v2:10.0.0.2:3300/0,v1:10.0.0.2:6789/0]"}}
    out = ceph_conf.remove_monitor(cfg, "a", "10.0.0.1")
    assert out["global"]["mon_host"] == "[v2:10.0.0.2:3300/0,v1:10.0.0.2:6789/0]"


def test_writer_section_order_and_escaping() -> None:
    cfg = {
        "osd.1": {"x": "1"},
        "zz": {"a": "b"},
        "mgr": {"m": "1"},
        "mon.a": {"public_addr": "10.0.0.1"},
        "client.admin": {"k": "v"},
        "global": {"fsid": "f", "comment_like": "a;b#c"},
        "mds": {"d": "1"},
    }
    text = ceph_conf.write(cfg)
    headers = [line for line in text.splitlines() if line.startswith("[")]
    assert headers == ["[global]", "[client.admin]", "[mds]", "[mon.a]", "[osd.1]", "[mgr]", "[zz]"]
    assert "\tcomment_like = a\\;b\\#c\n" in text
    assert ceph_conf.parse(text)["global"]["comment_like"] == "a;b#c"


def test_parser_follows_ceph_grammar() -> None:
    text = (
        "; comment\n"
        "# another\n"
        "key_before_section = ignored\n"
        "[global]\n"
        "    osd pool default size = 3   ; trailing comment\n"
        "\tfsid=abc\n"
        '\tquoted = "a value" # comment\n'
        "\tcontinued = one \\\n"
        "two\n"
        "[mon.a]  # header comment\n"
        "\tmon addr = 10.0.0.1\n"
    )
    assert ceph_conf.parse(text) == {
        "global": {"osd_pool_default_size": "3", "fsid": "abc", "quoted": "a value", "continued": "one two"},
        "mon.a": {"mon_addr": "10.0.0.1"},
    }


# --- datacenter.cfg ------------------------------------------------------------------------------


def test_bwlimit_sample_property_string_round_trip() -> None:
    text = (FIXTURES / "datacenter-bwlimit.cfg").read_text()
    cfg = datacenter.parse(text)
    assert cfg == {"bwlimit": {"default": "100", "move": "80", "restore": "60"}}
    # PVE writes the (empty) description block and an empty line first
    assert datacenter.write(cfg) == "\n" + text


def test_datacenter_writer_sorts_keys_and_property_string_keys() -> None:
    cfg = {
        "migration": {"network": "10.1.0.0/24", "type": "secure"},
        "keyboard": "en-us",
        "ha": {"shutdown_policy": "migrate"},
        "bwlimit": {"restore": "60", "default": "100"},
        "registered-tags": ["b", "a"],
        "description": "Lab cluster: do not touch\n100% simulated",
    }
    text = datacenter.write(cfg)
    assert text == (
        "#Lab cluster%3A do not touch\n#100%25 simulated\n\n"
        "bwlimit: default=100,restore=60\n"
        "ha: shutdown_policy=migrate\n"
        "keyboard: en-us\n"
        "migration: secure,network=10.1.0.0/24\n"
        "registered-tags: a;b\n"
    )
    again = datacenter.parse(text)
    assert again["migration"] == {"type": "secure", "network": "10.1.0.0/24"}
    assert again["description"] == "Lab cluster: do not touch\n100% simulated\n"
    assert again["registered-tags"] == ["a", "b"]


def test_property_string_helpers() -> None:
    assert datacenter.parse_property_string("secure,network=10.0.0.0/8", "type") == {
        "type": "secure",
        "network": "10.0.0.0/8",
    }
    assert datacenter.format_property_string({"move": 80, "default": 100}) == "default=100,move=80"
    with pytest.raises(DatacenterError, match="duplicate key"):
        datacenter.parse_property_string("move=1,move=2")
    with pytest.raises(DatacenterError):
        datacenter.parse_property_string("bare")
    with pytest.raises(DatacenterError, match="illegal value with commas"):
        datacenter.format_property_string({"x": "a,b"})
