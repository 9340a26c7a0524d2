"""The parameters of every action kind: one frozen, strict model per kind.

The planner builds these; plan files store them (`model_dump(mode="json")`) and
loading a plan validates them again, so a misspelt or retyped parameter is one clear
error naming the kind and the field. Templates read them through a strict view in
which an unknown name is a render error.

`replay_only` names fields that are not for the template: they feed the safety replay
or the destructive flag, and the catalogue test allows exactly these to go unread.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints, TypeAdapter, field_validator, model_validator

from provision.actions.values import (
    Arg,
    ClusterName,
    ConfigId,
    DevPath,
    Host,
    Ip,
    Network,
    NodeName,
    OptionName,
    ParamModel,
    SecretParam,
    Sid,
    Text,
    no_control,
)
from provision.spec.hapolicy import WATCHDOG_MODULE
from provision.spec.network import IFACE_NAME, Interface

Vote = Field(ge=0, le=255)
IfaceName = Annotated[str, StringConstraints(pattern=IFACE_NAME)]


@cache
def _interface() -> TypeAdapter[Any]:
    """The spec's interface union as a validator, built when a network action is first
    validated (building it costs every command that imports the catalogue otherwise)."""
    return TypeAdapter(Interface)


def _no_control_anywhere(value: Any) -> None:
    if isinstance(value, str):
        no_control(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_control_anywhere(k)
            _no_control_anywhere(v)
    elif isinstance(value, list):
        for v in value:
            _no_control_anywhere(v)


class Params(ParamModel):
    replay_only: ClassVar[frozenset[str]] = frozenset()
    as_data: ClassVar[frozenset[str]] = frozenset()
    """Fields apply hands to a module as structured JSON data (`x.<field>`), not as PVE texts (`t`)."""


class _Update(Params):
    """An update: None means "unchanged"; `delete` lists fields going back to unset."""

    identity: ClassVar[frozenset[str]] = frozenset()
    delete: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _delete_known(self) -> _Update:
        allowed = set(type(self).model_fields) - {"delete"} - type(self).identity
        bad = sorted(set(self.delete) - allowed)
        if bad:
            raise ValueError(f"delete names unknown field(s) {', '.join(bad)} (allowed: {', '.join(sorted(allowed))})")
        return self


# -- network --------------------------------------------------------------------------
class NetworkApply(Params):
    """The stack's managed interfaces of one node, applied on the node to its current file
    (every stanza and option the stack does not manage stays): each must be a valid spec
    interface, and no text in it may carry a control character (a newline in a comment
    would add lines to /etc/network/interfaces). `remove` are interfaces `--prune` drops."""

    replay_only = frozenset({"changed", "affects_corosync", "affects_ceph"})
    as_data = frozenset({"interfaces", "remove", "corosync_links"})
    interfaces: list[dict[str, Any]]
    remove: list[IfaceName] = Field(default_factory=list)
    corosync_links: list[Annotated[int, Field(ge=0, le=7)]] = Field(default_factory=list)
    """Link numbers the stack declares for this node: each must be connected to every
    online member after the reload, or the node reverts."""
    changed: list[IfaceName] = Field(default_factory=list)
    affects_corosync: bool = False
    affects_ceph: bool = False

    @field_validator("interfaces")
    @classmethod
    def _valid_interfaces(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for item in value:
            _interface().validate_python(item)
            _no_control_anywhere(item)
        return value


# -- cluster --------------------------------------------------------------------------
class Link(Params):
    number: int = Field(ge=0, le=7)
    address: Ip
    priority: int | None = Field(default=None, ge=0, le=255)


class ClusterCreate(Params):
    clustername: ClusterName
    nodeid: int = Field(ge=1)
    votes: int = Vote
    links: list[Link] = Field(min_length=1, max_length=8)
    token_coefficient: int | None = Field(default=None, ge=0)


class SshTrust(Params):
    """Root SSH from the action's node to `peer`: a node (for `pvecm add --use_ssh`) or
    the QNetd host, whose inventory name is its address (for `pvecm qdevice setup`)."""

    peer: NodeName | Ip
    peer_address: Ip


class ClusterJoin(Params):
    cluster_address: Ip
    nodeid: int = Field(ge=1)
    votes: int = Vote
    links: list[Link] = Field(min_length=1, max_length=8)


class NodeRemove(Params):
    node: NodeName


class NodeShutdown(Params):
    """A node the plan removes, powered off through the API before `pvecm delnode`."""

    node: NodeName


class CorosyncLinkSet(Params):
    link: int = Field(ge=0, le=7)
    priority: int | None = Field(default=None, ge=0, le=255)
    addresses: dict[NodeName, Ip]


class CorosyncLinkRemove(Params):
    link: int = Field(ge=0, le=7)


class CorosyncTotemSet(_Update):
    crypto_cipher: Literal["aes256", "aes192", "aes128", "none"] | None = None
    crypto_hash: Literal["sha256", "sha384", "sha512", "sha1", "md5", "none"] | None = None
    token: int | None = Field(default=None, ge=1)
    token_coefficient: int | None = Field(default=None, ge=0)


class QdeviceSetup(Params):
    replay_only = frozenset({"algorithm", "tie_breaker"})
    host: Host
    algorithm: Literal["ffsplit", "lms"] = "ffsplit"
    tie_breaker: Literal["lowest", "highest"] | int = "lowest"
    force: bool = False


class QdeviceRemove(Params):
    pass


class QdeviceInstall(Params):
    """`corosync-qdevice` on the action's node (Debian's package, as pvecm.adoc says)."""


class QnetdInstall(Params):
    """`corosync-qnetd` on the QNetd host at `host` (its inventory name)."""

    host: Ip


# -- ceph -----------------------------------------------------------------------------
class CephInstall(Params):
    release: Literal["quincy", "reef", "squid", "tentacle"] | None = None
    repository: Literal["enterprise", "no-subscription", "test"] = "enterprise"


class CephInit(Params):
    public_network: Network
    cluster_network: Network | None = None


class CephMon(Params):
    monid: NodeName


class CephDaemon(Params):
    """A manager or metadata server: its id is the node name (PVE's default)."""

    id: NodeName


class CephOsdCreate(Params):
    device: DevPath
    db_device: DevPath | None = None
    db_size_gib: int | None = Field(default=None, ge=1)
    wal_device: DevPath | None = None
    device_class: Literal["hdd", "ssd", "nvme"] | None = None
    encrypted: bool = False


class CephOsdDestroy(Params):
    osd_id: int | None = Field(default=None, ge=0)
    device: DevPath
    cleanup: bool = True


class CephOsdSet(Params):
    osd_id: int | None = Field(default=None, ge=0)
    device: DevPath
    device_class: Literal["hdd", "ssd", "nvme"]


PoolApplication = Literal["rbd", "cephfs", "rgw"]
AutoscaleMode = Literal["on", "off", "warn"]


class CephPoolCreate(Params):
    name: ConfigId
    size: int = Field(ge=1, le=7)
    min_size: int = Field(ge=1, le=7)
    pg_num: int | None = Field(default=None, ge=1, le=32768)
    pg_autoscale_mode: AutoscaleMode
    application: PoolApplication
    crush_rule: Arg
    add_storage: bool = False


class CephPoolSet(Params):
    """`pveceph pool set` has no `delete`: a field going back to unset is left as it is."""

    name: ConfigId
    size: int | None = Field(default=None, ge=1, le=7)
    min_size: int | None = Field(default=None, ge=1, le=7)
    pg_num: int | None = Field(default=None, ge=1, le=32768)
    pg_autoscale_mode: AutoscaleMode | None = None
    application: PoolApplication | None = None
    crush_rule: Arg | None = None


class CephPoolDestroy(Params):
    name: ConfigId
    remove_storages: bool = False


class CephFsCreate(Params):
    name: ConfigId
    pg_num: int = Field(ge=1, le=32768)
    add_storage: bool = False


class CephFsFail(Params):
    name: ConfigId


class CephFsDestroy(Params):
    name: ConfigId
    remove_pools: bool = False
    remove_storages: bool = False


# -- storage --------------------------------------------------------------------------
StorageType = Literal["rbd", "cephfs", "nfs", "iscsi", "pbs", "dir", "lvmthin", "zfspool"]


class StorageAdd(Params):
    """`options` are storage.cfg keys with PVE's text values; secrets stay references."""

    storage: ConfigId
    type: StorageType
    options: dict[OptionName, Arg] = Field(default_factory=dict)
    secrets: dict[OptionName, SecretParam] = Field(default_factory=dict)


class StorageSet(Params):
    storage: ConfigId
    options: dict[OptionName, Arg] = Field(default_factory=dict)
    secrets: dict[OptionName, SecretParam] = Field(default_factory=dict)
    delete: list[OptionName] = Field(default_factory=list)


class StorageRemove(Params):
    replay_only = frozenset({"holds"})
    storage: ConfigId
    holds: list[Literal["images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"]] = Field(
        default_factory=list)
    """Content types the storage holds: removing it strands them (destructive)."""


# -- HA -------------------------------------------------------------------------------
class DatacenterOptionsSet(Params):
    """datacenter.cfg through `pvesh set /cluster/options` (pve-manager `PVE/API2/Cluster.pm`
    set_options; formats: pve-cluster `DataCenterConfig.pm`). `options`: plain options and
    their values; `merge`: property-string options (`crs`, `ha`, `migration`, `bwlimit`,
    `next-id`) and the sub-keys the stack manages. PVE replaces an option as a whole, so apply
    reads each one first and sends it back with only these sub-keys changed."""

    options: dict[OptionName, Arg] = Field(default_factory=dict)
    merge: dict[OptionName, dict[OptionName, Arg]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _something(self) -> DatacenterOptionsSet:
        if not self.options and not self.merge:
            raise ValueError("nothing to set")
        if "," in "".join(v for sub in self.merge.values() for v in sub.values()):
            raise ValueError("a property-string value cannot hold a comma")
        return self


class HaWatchdogSet(Params):
    """A node's hardware watchdog module, `WATCHDOG_MODULE=` in /etc/default/pve-ha-manager
    (read by watchdog-mux.service's EnvironmentFile; pve-ha-manager `src/watchdog-mux.c`)."""

    module: Annotated[str, StringConstraints(pattern=WATCHDOG_MODULE)]


class HaGroupAdd(Params):
    group: ConfigId
    nodes: dict[NodeName, int]
    restricted: bool = False
    nofailback: bool = False
    comment: Text | None = None


class HaGroupSet(_Update):
    identity = frozenset({"group"})
    group: ConfigId
    nodes: dict[NodeName, int] | None = None
    restricted: bool | None = None
    nofailback: bool | None = None
    comment: Text | None = None


class HaGroupRemove(Params):
    group: ConfigId


RuleType = Literal["node-affinity", "resource-affinity"]


class HaRuleAdd(Params):
    rule: ConfigId
    type: RuleType
    resources: list[Sid] = Field(min_length=1)
    nodes: dict[NodeName, int] | None = None
    strict: bool | None = None
    affinity: Literal["positive", "negative"] | None = None
    disable: bool = False
    comment: Text | None = None


class HaRuleSet(_Update):
    identity = frozenset({"rule", "type"})
    rule: ConfigId
    type: RuleType
    resources: list[Sid] | None = None
    nodes: dict[NodeName, int] | None = None
    strict: bool | None = None
    affinity: Literal["positive", "negative"] | None = None
    disable: bool | None = None
    comment: Text | None = None


class HaRuleRemove(Params):
    rule: ConfigId


ResourceState = Literal["started", "stopped", "disabled", "ignored"]


class HaResourceAdd(Params):
    sid: Sid
    state: ResourceState = "started"
    group: ConfigId | None = None
    max_restart: int = Field(default=1, ge=0)
    max_relocate: int = Field(default=1, ge=0)
    failback: bool | None = None
    comment: Text | None = None


class HaResourceSet(_Update):
    identity = frozenset({"sid"})
    sid: Sid
    state: ResourceState | None = None
    group: ConfigId | None = None
    max_restart: int | None = Field(default=None, ge=0)
    max_relocate: int | None = Field(default=None, ge=0)
    failback: bool | None = None
    comment: Text | None = None


class HaResourceRemove(Params):
    sid: Sid


# Notification and backup-job kinds live in their own module (appended: one block per feature).
from provision.actions import params_alerts as _alerts  # noqa: E402

BackupJobAdd = _alerts.BackupJobAdd
BackupJobRemove = _alerts.BackupJobRemove
BackupJobSet = _alerts.BackupJobSet
NotifyMatcherAdd = _alerts.NotifyMatcherAdd
NotifyMatcherRemove = _alerts.NotifyMatcherRemove
NotifyMatcherSet = _alerts.NotifyMatcherSet
NotifyTargetAdd = _alerts.NotifyTargetAdd
NotifyTargetRemove = _alerts.NotifyTargetRemove
NotifyTargetSet = _alerts.NotifyTargetSet
