"""Section-config files (HA resources/groups/rules, storage.cfg): samples parse to the right
ids, types and values (the rules sample against upstream's own parsed form), and the writer
puts keys in PVE's order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provision.lab.formats import sectionconfig as sc
from provision.lab.formats.sectionconfig import Section, SectionConfig, SectionConfigError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pve"


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


def upstream_rules_expect() -> dict[str, Any]:
    """The ``--- Config ---`` JSON block of pve-ha-manager's expected parse output."""
    text = read("ha-rules-node-affinity.parsed.expect")
    block = text.split("--- Config ---\n", 1)[1].split("--- Compiled Config ---", 1)[0]
    result: dict[str, Any] = json.loads(block)
    return result


def as_upstream(cfg: SectionConfig) -> dict[str, Any]:
    """Our parse in upstream's in-memory shape (nodes -> {priority}, resources -> set)."""
    ids: dict[str, Any] = {}
    for s in cfg:
        entry: dict[str, Any] = {"type": s.type}
        for key, value in s.props.items():
            if key == "nodes":
                entry[key] = {n: {"priority": p} for n, p in sc.parse_node_list(value).items()}
            elif key == "resources":
                entry[key] = dict.fromkeys(sc.split_list(value), 1)
            else:
                entry[key] = int(value) if value.isdigit() else value
        ids[s.id] = entry
    return {"digest": cfg.digest, "ids": ids, "order": cfg.order()}


def test_rules_sample_matches_upstream_parsed_form() -> None:
    cfg = sc.parse(read("ha-rules-node-affinity.cfg"), sc.HA_RULES)
    assert cfg.errors == []
    assert as_upstream(cfg) == upstream_rules_expect()


def test_rules_sample_values() -> None:
    cfg = sc.parse(read("ha-rules-node-affinity.cfg"), sc.HA_RULES)
    assert cfg.ids() == [
        "node-affinity-defaults",
        "node-affinity-disabled",
        "node-affinity-disabled-explicit",
        "node-affinity-strict",
    ]
    assert cfg["node-affinity-disabled"].props == {"resources": "vm:102", "nodes": "node2", "disable": "1"}
    assert cfg["node-affinity-disabled-explicit"].props["disable"] == "1"
    assert cfg["node-affinity-strict"].props["strict"] == "1"
    assert "disable" not in cfg["node-affinity-defaults"].props


def test_rules_writer_order_and_bare_disable() -> None:
    cfg = sc.parse(read("ha-rules-node-affinity.cfg"), sc.HA_RULES)
    assert sc.write(cfg, sc.HA_RULES) == (
        "node-affinity: node-affinity-defaults\n\tnodes node1\n\tresources vm:101\n\n"
        "node-affinity: node-affinity-disabled\n\tdisable\n\tnodes node2\n\tresources vm:102\n\n"
        "node-affinity: node-affinity-disabled-explicit\n\tdisable\n\tnodes node2\n\tresources vm:103\n\n"
        "node-affinity: node-affinity-strict\n\tnodes node3\n\tresources vm:104\n\tstrict 1\n\n"
    )


def test_resource_affinity_rules_sorted_resources_and_required_keys_first() -> None:
    cfg = sc.parse(read("ha-rules-resource-affinity.cfg"), sc.HA_RULES)
    assert [(s.id, s.type) for s in cfg] == [
        ("keep-together", "resource-affinity"),
        ("keep-separate", "resource-affinity"),
    ]
    assert cfg["keep-separate"].props == {"resources": "ct:300,vm:200", "affinity": "negative"}
    assert sc.write(cfg, sc.HA_RULES) == (
        "resource-affinity: keep-together\n\taffinity positive\n\tresources vm:100,vm:200\n\n"
        "resource-affinity: keep-separate\n\taffinity negative\n\tresources ct:300,vm:200\n\n"
    )


def test_reference_rules_example_writes_as_documented() -> None:
    # pve-facts §3.2 rules.cfg example, built through the API-level helpers
    cfg = SectionConfig()
    rule = Section("node-affinity", "ha-group-web")
    rule.set("comment", "Generated from HA group 'web'.")
    rule.set("strict", True)
    rule.set("resources", "vm:101,vm:100")
    rule.set("nodes", sc.format_node_list({"pve3": 0, "pve2": 1, "pve1": 2}))
    cfg.add(rule)
    cfg.add(Section("resource-affinity", "keep-apart", {"resources": "vm:201,vm:200", "affinity": "negative"}))
    assert sc.write(cfg, sc.HA_RULES) == (
        "node-affinity: ha-group-web\n"
        "\tcomment Generated from HA group 'web'.\n"
        "\tnodes pve1:2,pve2:1,pve3\n"
        "\tresources vm:100,vm:101\n"
        "\tstrict 1\n"
        "\n"
        "resource-affinity: keep-apart\n"
        "\taffinity negative\n"
        "\tresources vm:200,vm:201\n"
        "\n"
    )


def test_rules_nodes_written_sorted_with_priority_zero_bare() -> None:
    text = "node-affinity: r1\n\tresources vm:2, vm:1\n\tnodes pve3:0,pve1:2,pve2\n"
    cfg = sc.parse(text, sc.HA_RULES)
    assert cfg["r1"].props["nodes"] == "pve1:2,pve2,pve3"
    assert sc.write(cfg, sc.HA_RULES) == "node-affinity: r1\n\tnodes pve1:2,pve2,pve3\n\tresources vm:1,vm:2\n\n"


def test_rules_comment_is_uri_escaped_like_encode_text() -> None:
    cfg = SectionConfig()
    cfg.add(Section("resource-affinity", "r", {"affinity": "positive", "resources": "vm:1,vm:2"}))
    cfg["r"].set("comment", "db: keep 100% together")
    text = sc.write(cfg, sc.HA_RULES)
    assert "\tcomment db%3A keep 100%25 together\n" in text
    assert sc.parse(text, sc.HA_RULES)["r"].props["comment"] == "db: keep 100% together"


def test_rules_to_api_fills_defaults_like_pve9() -> None:
    cfg = sc.parse(read("ha-rules-node-affinity.cfg"), sc.HA_RULES)
    items = sc.rules_to_api(cfg)
    assert items[0] == {
        "rule": "node-affinity-defaults",
        "type": "node-affinity",
        "resources": "vm:101",
        "nodes": "node1",
        "strict": 0,
        "order": 1,
        "digest": "c96c9de143221a82e44efa8bb4814b8248a8ea11",
    }
    assert items[1]["disable"] == 1
    assert items[3]["strict"] == 1
    assert [i["order"] for i in items] == [1, 2, 3, 4]


def test_ha_resources_sample_with_spaces_and_comment_only_section() -> None:
    cfg = sc.parse(read("ha-resources.cfg"), sc.HA_RESOURCES)
    assert cfg.errors == []
    assert cfg.ids() == ["vm:501", "ct:102"]
    assert cfg["vm:501"].type == "vm"
    assert cfg["vm:501"].props == {"state": "started", "max_relocate": "2"}
    assert cfg["ct:102"].props == {}
    assert sc.write(cfg, sc.HA_RESOURCES) == "vm: 501\n\tmax_relocate 2\n\tstate started\n\nct: 102\n\n"
    assert cfg["vm:501"].to_api(sc.HA_RESOURCES) == {
        "sid": "vm:501",
        "type": "vm",
        "state": "started",
        "max_relocate": 2,
    }


def test_reference_resources_example_comment_first_then_alphabetical() -> None:
    cfg = SectionConfig()
    vm = Section("vm", "vm:100")
    for key, value in (("state", "started"), ("max_restart", 1), ("max_relocate", 2), ("comment", "web")):
        vm.set(key, value)
    cfg.add(vm)
    cfg.add(Section("ct", "ct:101", {"state": "stopped"}))
    pve9 = Section("vm", "vm:102")
    pve9.set("failback", False)
    cfg.add(pve9)
    assert sc.write(cfg, sc.HA_RESOURCES) == (
        "vm: 100\n\tcomment web\n\tmax_relocate 2\n\tmax_restart 1\n\tstate started\n\n"
        "ct: 101\n\tstate stopped\n\n"
        "vm: 102\n\tfailback 0\n\n"
    )


def test_ha_groups_sample() -> None:
    cfg = sc.parse(read("ha-groups.cfg"), sc.HA_GROUPS)
    assert [(s.type, s.id) for s in cfg] == [("group", "group1"), ("group", "group2")]
    assert cfg["group2"].props == {"nodes": "node2:2,node3", "nofailback": "1"}
    assert sc.parse_node_list(cfg["group2"].props["nodes"]) == {"node2": 2, "node3": 0}
    assert cfg["group1"].to_api(sc.HA_GROUPS) == {
        "group": "group1",
        "type": "group",
        "nodes": "node1",
        "restricted": 1,
    }
    assert sc.write(cfg, sc.HA_GROUPS) == read("ha-groups.cfg") + "\n"


def test_groups_writer_puts_required_nodes_before_optional_flags() -> None:
    cfg = SectionConfig()
    g = Section("group", "prefer_pve1")
    g.set("restricted", True)
    g.set("nofailback", True)
    g.set("nodes", "pve1:2,pve2:1,pve3")
    g.set("comment", "optional text")
    cfg.add(g)
    assert sc.write(cfg, sc.HA_GROUPS) == (
        "group: prefer_pve1\n\tcomment optional text\n\tnodes pve1:2,pve2:1,pve3\n"
        "\tnofailback 1\n\trestricted 1\n\n"
    )


@pytest.mark.parametrize(
    ("name", "sid", "type_", "props"),
    [
        (
            "storage-rbd.cfg",
            "ceph-external",
            "rbd",
            {
                "monhost": "10.1.1.20 10.1.1.21 10.1.1.22",
                "pool": "ceph-external",
                "content": "images",
                "username": "admin",
            },
        ),
        (
            "storage-cephfs.cfg",
            "cephfs-external",
            "cephfs",
            {
                "monhost": "10.1.1.20 10.1.1.21 10.1.1.22",
                "path": "/mnt/pve/cephfs-external",
                "content": "backup",
                "username": "admin",
                "fs-name": "cephfs",
            },
        ),
        (
            "storage-nfs.cfg",
            "iso-templates",
            "nfs",
            {
                "path": "/mnt/pve/iso-templates",
                "server": "10.0.0.10",
                "export": "/space/iso-templates",
                "options": "vers=3,soft",
                "content": "iso,vztmpl",
            },
        ),
        (
            "storage-lvmthin.cfg",
            "local-lvm",
            "lvmthin",
            {"thinpool": "data", "vgname": "pve", "content": "rootdir,images"},
        ),
        (
            "storage-zfspool.cfg",
            "vmdata",
            "zfspool",
            {"pool": "tank/vmdata", "content": "rootdir,images", "sparse": "1"},
        ),
    ],
)
def test_storage_samples_parse(name: str, sid: str, type_: str, props: dict[str, str]) -> None:
    cfg = sc.parse(read(name), sc.STORAGE)
    assert cfg.errors == []
    assert cfg.ids() == [sid]
    assert cfg[sid].type == type_
    assert cfg[sid].props == props


def test_pbs_sample_keeps_every_key() -> None:
    cfg = sc.parse(read("storage-pbs.cfg"), sc.STORAGE)
    props = cfg["backup"].props
    assert props["datastore"] == "main"
    assert props["prune-backups"] == "keep-all=1"
    assert props["encryption-key"] == "a9:ee:c8:02:13:..snip..:2d:53:2c:98"
    assert len(props) == 8


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "storage-nfs.cfg",
            "nfs: iso-templates\n\texport /space/iso-templates\n\tpath /mnt/pve/iso-templates\n"
            "\tserver 10.0.0.10\n\tcontent iso,vztmpl\n\toptions vers=3,soft\n\n",
        ),
        ("storage-zfspool.cfg", "zfspool: vmdata\n\tpool tank/vmdata\n\tcontent rootdir,images\n\tsparse 1\n\n"),
        ("storage-lvmthin.cfg", "lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n\n"),
        (
            "storage-cephfs.cfg",
            "cephfs: cephfs-external\n\tpath /mnt/pve/cephfs-external\n\tcontent backup\n\tfs-name cephfs\n"
            "\tmonhost 10.1.1.20 10.1.1.21 10.1.1.22\n\tusername admin\n\n",
        ),
        (
            "storage-pbs.cfg",
            "pbs: backup\n\tdatastore main\n\tserver enya.proxmox.com\n\tcontent backup\n"
            "\tencryption-key a9:ee:c8:02:13:..snip..:2d:53:2c:98\n"
            "\tfingerprint 09:54:ef:..snip..:88:af:47:fe:4c:3b:cf:8b:26:88:0b:4e:3c:b2\n"
            "\tmaster-pubkey 1\n\tprune-backups keep-all=1\n\tusername archiver@pbs\n\n",
        ),
    ],
)
def test_storage_writer_required_keys_then_optional(name: str, expected: str) -> None:
    assert sc.write(sc.parse(read(name), sc.STORAGE), sc.STORAGE) == expected


def test_reference_storage_example() -> None:
    cfg = SectionConfig()
    cfg.add(Section("dir", "local", {"path": "/var/lib/vz", "content": "iso,vztmpl,backup"}))
    cfg.add(Section("lvmthin", "local-lvm", {"thinpool": "data", "vgname": "pve", "content": "rootdir,images"}))
    rbd = Section("rbd", "vmpool", {"pool": "vmpool", "content": "rootdir,images"})
    rbd.set("krbd", False)
    cfg.add(rbd)
    cephfs = {"path": "/mnt/pve/cephfs", "content": "backup,iso,vztmpl", "fs-name": "cephfs"}
    cfg.add(Section("cephfs", "cephfs", cephfs))
    assert sc.write(cfg, sc.STORAGE) == (
        "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\n"
        "lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n\n"
        "rbd: vmpool\n\tcontent rootdir,images\n\tkrbd 0\n\tpool vmpool\n\n"
        "cephfs: cephfs\n\tpath /mnt/pve/cephfs\n\tcontent backup,iso,vztmpl\n\tfs-name cephfs\n\n"
    )


def test_storage_to_api_adds_shared_and_default_content() -> None:
    cfg = sc.parse(read("storage-rbd.cfg") + "\ndir: scratch\n\tpath /scratch\n\tdisable\n", sc.STORAGE)
    assert sc.storage_to_api(cfg["ceph-external"]) == {
        "storage": "ceph-external",
        "type": "rbd",
        "monhost": "10.1.1.20 10.1.1.21 10.1.1.22",
        "pool": "ceph-external",
        "content": "images",
        "username": "admin",
        "shared": 1,
    }
    scratch = sc.storage_to_api(cfg["scratch"])
    assert scratch["content"] == "images,rootdir"
    assert scratch["disable"] == 1
    assert "shared" not in scratch


def test_disable_flag_is_bare_and_comes_after_comment() -> None:
    cfg = SectionConfig()
    s = Section("dir", "d1", {"path": "/d1", "nodes": "pve1,pve2", "content": "images"})
    s.set("disable", True)
    s.set("comment", "x")
    cfg.add(s)
    assert sc.write(cfg, sc.STORAGE) == (
        "dir: d1\n\tcomment x\n\tdisable\n\tpath /d1\n\tcontent images\n\tnodes pve1,pve2\n\n"
    )
    s.set("disable", False)
    assert "disable" not in sc.write(cfg, sc.STORAGE)


def test_section_order_preserved_new_sections_appended_replaced_in_place() -> None:
    cfg = sc.parse(read("ha-groups.cfg"), sc.HA_GROUPS)
    cfg.add(Section("group", "group0", {"nodes": "n9"}))
    cfg.put(Section("group", "group1", {"nodes": "n1,n2"}))
    assert cfg.ids() == ["group1", "group2", "group0"]
    assert sc.write(cfg, sc.HA_GROUPS).startswith("group: group1\n\tnodes n1,n2\n\ngroup: group2\n")
    with pytest.raises(SectionConfigError, match="already defined"):
        cfg.add(Section("group", "group0", {"nodes": "n9"}))
    assert cfg.remove("group2").props["nofailback"] == "1"
    assert cfg.ids() == ["group1", "group0"]


def test_missing_required_key_is_refused_on_write() -> None:
    cfg = SectionConfig()
    cfg.add(Section("nfs", "n", {"server": "1.2.3.4", "path": "/mnt/n"}))
    with pytest.raises(SectionConfigError, match="section 'n' - missing value for required option 'export'"):
        sc.write(cfg, sc.STORAGE)


def test_parser_tolerance() -> None:
    text = (
        "# leading comment\n"
        "ZFSPOOL: tank\n"
        "  sparse\n"
        "    # inner comment\n"
        "\tcontent   images,rootdir\n"
        "\tpool tank/data\n"
        "\tsparse 1\n"
        "\tblocksize\n"
        "\tfancy-new-option some value\n"
        "\n"
        "esxi: vcenter\n"
        "\tserver 10.9.9.9\n"
        "\tusername root\n"
        "dir: other\n"
        "\tpath /o\n"
        "\tdisable yes\n"
        "\tshared maybe\n"
    )
    cfg = sc.parse(text, sc.STORAGE)
    assert cfg.ids() == ["tank", "vcenter", "other"]
    assert cfg["tank"].type == "zfspool"
    assert cfg["tank"].props == {
        "sparse": "1",
        "content": "images,rootdir",
        "pool": "tank/data",
        "fancy-new-option": "some value",
    }
    assert cfg["other"].props == {"path": "/o", "disable": "1"}
    assert len(cfg.errors) == 3
    assert "duplicate attribute" in cfg.errors[0]
    assert "'blocksize': got undefined value" in cfg.errors[1]
    assert "'shared'" in cfg.errors[2] and "boolean" in cfg.errors[2]
    # unknown types are kept and written in PVE's allow-unknown layout
    assert sc.write(cfg, sc.STORAGE).split("\n\n")[1] == "esxi: vcenter\n\tserver 10.9.9.9\n\tusername root"


def test_node_list_helpers() -> None:
    assert sc.parse_node_list("n1:2,n2:1,n3") == {"n1": 2, "n2": 1, "n3": 0}
    assert sc.parse_node_list("n1 ; n2:5") == {"n1": 0, "n2": 5}
    assert sc.format_node_list({"n2": 1, "n1": 2, "n3": 0}) == "n1:2,n2:1,n3"
    assert sc.format_node_list({"n2": 1, "n1": 2, "n3": 0}, sort=False) == "n2:1,n1:2,n3"
    with pytest.raises(SectionConfigError, match="unable to parse HA node entry 'bad_node'"):
        sc.parse_node_list("n1,bad_node")
    assert sc.parse_sid("ct:101") == ("ct", "101")
    with pytest.raises(ValueError):
        sc.parse_sid("101")


def test_digest_is_sha1_of_text() -> None:
    assert sc.parse("", sc.HA_RULES).digest == "da39a3ee5e6b4b0d3255bfef95601890afd80709"
