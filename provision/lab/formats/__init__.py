"""Readers and writers for the Proxmox VE config files the lab keeps in their real formats.

Each module reproduces what PVE itself reads and, above all, what it *writes*: a client that
diffs files, or an admin who opens one, must see the bytes a real node would have produced.
The modules are pure (text in, text out) so the lab store, the API handlers and the node CLIs
can all share them without sharing state.

- ``corosync``: ``/etc/pve/corosync.conf`` (pve-cluster ``Corosync.pm``)
- ``sectionconfig``: ``/etc/pve/ha/*.cfg`` and ``/etc/pve/storage.cfg`` (pve-common ``SectionConfig.pm``)
- ``/etc/network/interfaces`` lives in ``provision.pveformat.interfaces`` (shared with apply)
- ``ceph_conf``: ``/etc/pve/ceph.conf`` (pve-storage ``CephConfig.pm``, ``pveceph init``)
- ``datacenter``: ``/etc/pve/datacenter.cfg`` (pve-cluster ``DataCenterConfig.pm``)
"""

from __future__ import annotations

from provision.lab.formats.errors import FormatError

__all__ = ["FormatError"]
