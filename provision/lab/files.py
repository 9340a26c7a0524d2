"""Typed views of the ``/etc/pve`` files the lab handlers edit, over ``provision.lab.formats``.

The file formats themselves (parsing and PVE's exact writer rules) belong to
``provision.lab.formats``; this module only converts between those and the small shapes the
handlers reason about, so a change in the formats API touches one file.
"""

from __future__ import annotations

from typing import Any

from provision.lab import parsecache
from provision.lab.formats import ceph_conf, datacenter, sectionconfig
from provision.lab.formats.corosync import ClusterConf
from provision.lab.formats.sectionconfig import Section

COROSYNC = "corosync.conf"
HA_RESOURCES = "ha/resources.cfg"
HA_GROUPS = "ha/groups.cfg"
HA_RULES = "ha/rules.cfg"
STORAGE = "storage.cfg"
CEPH_CONF = "ceph.conf"
DATACENTER = "datacenter.cfg"


def parse_corosync(text: str) -> ClusterConf:
    return ClusterConf.from_text(text)


def write_corosync(conf: ClusterConf) -> str:
    return conf.to_text()


SCHEMAS = {
    "resources": sectionconfig.HA_RESOURCES,
    "groups": sectionconfig.HA_GROUPS,
    "rules": sectionconfig.HA_RULES,
    "storage": sectionconfig.STORAGE,
}


def parse_sections(text: str | None, kind: str) -> list[Section]:
    """``kind`` is one of ``resources``, ``groups``, ``rules``, ``storage``.

    HA resource sections carry the full sid as id (``vm:100``), as the formats module does.
    Fresh objects from the parse cache (``provision.lab.parsecache``).
    """
    return parsecache.read(text or "", SCHEMAS[kind])


def find_section(text: str | None, kind: str, sid: str) -> Section | None:
    """Section ``sid`` of the file, without building the others (a GET of one object)."""
    return parsecache.find(text or "", SCHEMAS[kind], sid)


def write_sections(sections: list[Section], kind: str) -> str:
    return parsecache.write(sections, SCHEMAS[kind])


def write_ceph_conf(conf: dict[str, dict[str, str]]) -> str:
    return ceph_conf.write(conf)


def parse_ceph_conf(text: str) -> dict[str, dict[str, str]]:
    return ceph_conf.parse(text)


def parse_datacenter(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    return datacenter.parse(text)

