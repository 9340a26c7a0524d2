"""Hyper-converged Ceph managed with pveceph: daemons, OSDs, pools, CephFS."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from provision.spec.base import CONFIG_ID, INT32_MAX, NODE_NAME, Int, IPv4Network, SpecModel, Text


class Osd(SpecModel):
    """One OSD on a whole disk (`pveceph osd create DEV`). Identified by node and device."""

    node: Text = Field(pattern=NODE_NAME, description="Node holding the disk.")
    device: Text = Field(pattern=r"^/dev/\S+$", description="Whole disk, e.g. /dev/sdb.")
    db_device: Text | None = Field(default=None, pattern=r"^/dev/\S+$", description="Device for the RocksDB.")
    db_size_gib: Int | None = Field(default=None, ge=1, le=INT32_MAX, description="DB size on db_device, in GiB.")
    wal_device: Text | None = Field(default=None, pattern=r"^/dev/\S+$", description="Device for the WAL.")
    device_class: Literal["hdd", "ssd", "nvme"] | None = Field(
        default=None, description="CRUSH device class; Ceph detects it if unset."
    )
    encrypted: bool = Field(default=False, description="Encrypt the OSD (dm-crypt).")

    @property
    def key(self) -> str:
        """Address key, `node:/dev/x`."""
        return f"{self.node}:{self.device}"

    @model_validator(mode="after")
    def _distinct_devices(self) -> Osd:
        if self.device in (self.db_device, self.wal_device):
            raise ValueError("db_device/wal_device must differ from the OSD device")
        if self.db_size_gib is not None and self.db_device is None:
            raise ValueError("db_size_gib needs a db_device")
        return self


class Pool(SpecModel):
    """A replicated RADOS pool (`pveceph pool create`)."""

    name: Text = Field(pattern=CONFIG_ID, description="Pool name.")
    size: Int = Field(default=3, ge=1, le=7, description="Replicas (Proxmox default 3).")
    min_size: Int = Field(default=2, ge=1, le=7, description="Replicas needed for I/O (default 2).")
    pg_num: Int | None = Field(
        default=None, ge=1, le=32768,
        description="Placement groups (pveceph allows up to 32768); the autoscaler decides if unset.",
    )
    pg_autoscale_mode: Literal["on", "off", "warn"] = Field(
        default="warn", description="PG autoscaler mode (pveceph's default is warn)."
    )
    application: Literal["rbd", "cephfs", "rgw"] = Field(default="rbd", description="Pool application.")
    crush_rule: Text = Field(default="replicated_rule", description="CRUSH rule name.")
    add_storage: bool = Field(
        default=False,
        description="Also add an RBD storage named like the pool (only at creation, as pveceph does).",
    )

    @model_validator(mode="after")
    def _min_size_le_size(self) -> Pool:
        if self.min_size > self.size:
            raise ValueError(f"min_size {self.min_size} is larger than size {self.size}")
        return self


class CephFs(SpecModel):
    """A CephFS file system (`pveceph fs create`): pools `<name>_data` and `<name>_metadata`."""

    name: Text = Field(default="cephfs", pattern=CONFIG_ID, description="File system name.")
    pg_num: Int = Field(default=128, ge=1, le=32768, description="PGs of the data pool (metadata gets a quarter).")
    add_storage: bool = Field(default=False, description="Also add a CephFS storage with this name.")


CephRelease = Literal["quincy", "reef", "squid", "tentacle"]
CephRepository = Literal["enterprise", "no-subscription", "test"]
# Releases `pveceph install` offers per PVE major (pve-manager PVE/Ceph/Releases.pm).
CEPH_RELEASES: dict[int, tuple[str, ...]] = {8: ("quincy", "reef", "squid"), 9: ("squid", "tentacle")}
CEPH_MAJOR: dict[int, str] = {17: "quincy", 18: "reef", 19: "squid", 20: "tentacle"}
"""Ceph's major version -> release codename (what `apt/versions` reports -> what the stack names)."""


class Ceph(SpecModel):
    """The cluster's Ceph layout."""

    release: CephRelease | None = Field(
        default=None, description="Ceph release `pveceph install` installs on nodes without Ceph "
        "(PVE 8: quincy, reef, squid; PVE 9: squid, tentacle); unset: pveceph's default.")
    repository: CephRepository = Field(
        default="enterprise", description="Ceph repository `pveceph install` configures (needs a subscription "
        "for enterprise).")

    public_network: IPv4Network = Field(description="Ceph public network (MONs, clients).")
    cluster_network: IPv4Network | None = Field(
        default=None, description="Separate OSD replication network; the public network if unset."
    )
    mons: list[Text] = Field(default_factory=list, description="Nodes running a monitor.")
    mgrs: list[Text] = Field(default_factory=list, description="Nodes running a manager.")
    mdss: list[Text] = Field(default_factory=list, description="Nodes running a metadata server (CephFS).")
    osds: list[Osd] = Field(default_factory=list, description="OSDs, one per whole disk.")
    pools: list[Pool] = Field(default_factory=list, description="Replicated pools.")
    filesystems: list[CephFs] = Field(default_factory=list, description="CephFS file systems.")

    def osd_hosts(self) -> set[str]:
        return {osd.node for osd in self.osds}
