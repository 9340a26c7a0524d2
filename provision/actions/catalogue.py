"""The closed set of things apply can do: one entry per action kind.

Each entry is the whole definition of a kind: its name, the phases it may run in, its
rank inside a phase, its parameter model, whether it must run alone, whether it
destroys data (derived from its parameters, never trusted from a plan file), its
effect on the safety replay and its template. Adding a kind means adding an entry
here, its template `provision/playbooks/actions/<kind>.yml.j2` and its JSON cases in
`tests/actions/cases/<kind>/`; plan, apply, docs and tests read everything else from
this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from provision.actions import params as P
from provision.actions import safety as S
from provision.actions.phases import Phase


class Kind(StrEnum):
    NETWORK_APPLY = "network_apply"
    CLUSTER_CREATE = "cluster_create"
    SSH_TRUST = "ssh_trust"
    CLUSTER_JOIN = "cluster_join"
    NODE_SHUTDOWN = "node_shutdown"
    NODE_REMOVE = "node_remove"
    COROSYNC_LINK_SET = "corosync_link_set"
    COROSYNC_LINK_REMOVE = "corosync_link_remove"
    COROSYNC_TOTEM_SET = "corosync_totem_set"
    QDEVICE_SETUP = "qdevice_setup"
    QDEVICE_REMOVE = "qdevice_remove"
    QDEVICE_INSTALL = "qdevice_install"
    QNETD_INSTALL = "qnetd_install"
    CEPH_INSTALL = "ceph_install"
    CEPH_INIT = "ceph_init"
    CEPH_MON_CREATE = "ceph_mon_create"
    CEPH_MON_DESTROY = "ceph_mon_destroy"
    CEPH_MGR_CREATE = "ceph_mgr_create"
    CEPH_MGR_DESTROY = "ceph_mgr_destroy"
    CEPH_MDS_CREATE = "ceph_mds_create"
    CEPH_MDS_DESTROY = "ceph_mds_destroy"
    CEPH_OSD_CREATE = "ceph_osd_create"
    CEPH_OSD_DESTROY = "ceph_osd_destroy"
    CEPH_OSD_SET = "ceph_osd_set"
    CEPH_POOL_CREATE = "ceph_pool_create"
    CEPH_POOL_SET = "ceph_pool_set"
    CEPH_POOL_DESTROY = "ceph_pool_destroy"
    CEPH_FS_CREATE = "ceph_fs_create"
    CEPH_FS_FAIL = "ceph_fs_fail"
    CEPH_FS_DESTROY = "ceph_fs_destroy"
    STORAGE_ADD = "storage_add"
    STORAGE_SET = "storage_set"
    STORAGE_REMOVE = "storage_remove"
    HA_GROUP_ADD = "ha_group_add"
    HA_GROUP_SET = "ha_group_set"
    HA_GROUP_REMOVE = "ha_group_remove"
    HA_RULE_ADD = "ha_rule_add"
    HA_RULE_SET = "ha_rule_set"
    HA_RULE_REMOVE = "ha_rule_remove"
    HA_RESOURCE_ADD = "ha_resource_add"
    HA_RESOURCE_SET = "ha_resource_set"
    HA_RESOURCE_REMOVE = "ha_resource_remove"
    DATACENTER_OPTIONS_SET = "datacenter_options_set"
    HA_WATCHDOG_SET = "ha_watchdog_set"
    NOTIFY_TARGET_ADD = "notify_target_add"
    NOTIFY_TARGET_SET = "notify_target_set"
    NOTIFY_TARGET_REMOVE = "notify_target_remove"
    NOTIFY_MATCHER_ADD = "notify_matcher_add"
    NOTIFY_MATCHER_SET = "notify_matcher_set"
    NOTIFY_MATCHER_REMOVE = "notify_matcher_remove"
    BACKUP_JOB_ADD = "backup_job_add"
    BACKUP_JOB_SET = "backup_job_set"
    BACKUP_JOB_REMOVE = "backup_job_remove"


Destructive = Callable[[P.Params], bool]


def _always(_: P.Params) -> bool:
    return True


def _never(_: P.Params) -> bool:
    return False


def _strands_content(params: P.Params) -> bool:
    return isinstance(params, P.StorageRemove) and bool(params.holds)


@dataclass(frozen=True)
class KindSpec:
    kind: Kind
    summary: str
    params: type[P.Params]
    phases: frozenset[Phase]
    rank: int = 50
    """Tie-break inside a phase (the Ceph sub-order: install, init, MONs, MGRs, OSDs, pools, MDS, CephFS)."""
    serial: bool = False
    """Runs one node at a time, alone in its play."""
    destructive: Destructive = _never
    effect: S.Effect | None = None

    @property
    def template(self) -> str:
        return f"actions/{self.kind.value}.yml.j2"


def _spec(kind: Kind, summary: str, params: type[P.Params], *phases: Phase, rank: int = 50, serial: bool = False,
          destructive: Destructive = _never, effect: S.Effect | None = None) -> KindSpec:
    return KindSpec(kind, summary, params, frozenset(phases), rank, serial, destructive, effect)


K, Ph = Kind, Phase
CATALOGUE: dict[Kind, KindSpec] = {s.kind: s for s in (
    # not serial: the planner chains batches of reloads that the cluster can lose at once
    # (safety.reload_batches); a batch runs as one play, its nodes side by side
    _spec(K.NETWORK_APPLY, "stage /etc/network/interfaces, reload once (ifreload -a), confirm or revert; nodes in "
          "batches the cluster can lose at once", P.NetworkApply, Ph.NETWORK, effect=S.network_apply),
    _spec(K.CLUSTER_CREATE, "pvecm create on the first node", P.ClusterCreate, Ph.CLUSTER, rank=1, serial=True,
          effect=S.join),
    _spec(K.SSH_TRUST, "root SSH trust for pvecm add --use_ssh and pvecm qdevice setup: authorize the node's key "
          "on its peer (a node or the QNetd host), pin the peer's host key", P.SshTrust, Ph.CLUSTER, Ph.QDEVICE,
          rank=2),
    _spec(K.CLUSTER_JOIN, "pvecm add (one node at a time)", P.ClusterJoin, Ph.CLUSTER, rank=2, serial=True,
          effect=S.join),
    _spec(K.NODE_SHUTDOWN, "power off a node the plan removes (POST /nodes/{node}/status shutdown), wait until "
          "it is offline", P.NodeShutdown, Ph.DESTROY_CLUSTER, serial=True, destructive=_always,
          effect=S.node_shutdown),
    _spec(K.NODE_REMOVE, "pvecm delnode (refused while the node is online)", P.NodeRemove, Ph.DESTROY_CLUSTER,
          serial=True, destructive=_always, effect=S.node_remove),
    _spec(K.COROSYNC_LINK_SET, "edit a knet link in corosync.conf", P.CorosyncLinkSet, Ph.COROSYNC, serial=True),
    _spec(K.COROSYNC_LINK_REMOVE, "remove a knet link from corosync.conf", P.CorosyncLinkRemove,
          Ph.DESTROY_COROSYNC, serial=True),
    _spec(K.COROSYNC_TOTEM_SET, "edit totem options in corosync.conf", P.CorosyncTotemSet, Ph.COROSYNC,
          serial=True),
    _spec(K.QDEVICE_SETUP, "pvecm qdevice setup", P.QdeviceSetup, Ph.QDEVICE, Ph.DESTROY_CLUSTER, serial=True,
          effect=S.qdevice_setup),
    _spec(K.QDEVICE_INSTALL, "apt-get install corosync-qdevice on a node (pvecm qdevice setup needs it on every "
          "node)", P.QdeviceInstall, Ph.QDEVICE, rank=1),
    _spec(K.QNETD_INSTALL, "apt-get install corosync-qnetd on the QNetd host (delegated from the node that runs "
          "pvecm qdevice setup)", P.QnetdInstall, Ph.QDEVICE, rank=1),
    _spec(K.QDEVICE_REMOVE, "pvecm qdevice remove", P.QdeviceRemove, Ph.CLUSTER, Ph.QDEVICE, Ph.DESTROY_QDEVICE,
          rank=0, serial=True, effect=S.qdevice_remove),
    _spec(K.CEPH_INSTALL, "pveceph install (Ceph repository and packages) on a node without Ceph",
          P.CephInstall, Ph.CEPH, rank=2),
    _spec(K.CEPH_INIT, "pveceph init (writes ceph.conf)", P.CephInit, Ph.CEPH, rank=3),
    _spec(K.CEPH_MON_CREATE, "pveceph mon create", P.CephMon, Ph.CEPH, rank=4, serial=True, effect=S.mon_create),
    _spec(K.CEPH_MON_DESTROY, "pveceph mon destroy", P.CephMon, Ph.DESTROY_CEPH, rank=17, serial=True,
          destructive=_always, effect=S.mon_destroy),
    _spec(K.CEPH_MGR_CREATE, "pveceph mgr create", P.CephDaemon, Ph.CEPH, rank=5),
    _spec(K.CEPH_MGR_DESTROY, "pveceph mgr destroy", P.CephDaemon, Ph.DESTROY_CEPH, rank=16, serial=True),
    _spec(K.CEPH_MDS_CREATE, "pveceph mds create", P.CephDaemon, Ph.CEPH, rank=11),
    _spec(K.CEPH_MDS_DESTROY, "pveceph mds destroy", P.CephDaemon, Ph.DESTROY_CEPH, rank=15, serial=True),
    _spec(K.CEPH_OSD_CREATE, "pveceph osd create on a whole disk", P.CephOsdCreate, Ph.CEPH, rank=7,
          effect=S.osd_create),
    _spec(K.CEPH_OSD_DESTROY, "ceph osd out, wait for safe-to-destroy, ok-to-stop, stop, pveceph osd destroy",
          P.CephOsdDestroy, Ph.CEPH, Ph.DESTROY_CEPH, rank=6, serial=True, destructive=_always, effect=S.osd_destroy),
    _spec(K.CEPH_OSD_SET, "ceph osd crush set-device-class", P.CephOsdSet, Ph.CEPH, rank=8),
    _spec(K.CEPH_POOL_CREATE, "pveceph pool create", P.CephPoolCreate, Ph.CEPH, rank=9, effect=S.pool_size),
    _spec(K.CEPH_POOL_SET, "pveceph pool set", P.CephPoolSet, Ph.CEPH, rank=10, effect=S.pool_size),
    _spec(K.CEPH_POOL_DESTROY, "pveceph pool destroy", P.CephPoolDestroy, Ph.DESTROY_CEPH, rank=14, serial=True,
          destructive=_always),
    _spec(K.CEPH_FS_CREATE, "pveceph fs create", P.CephFsCreate, Ph.CEPH, rank=12),
    _spec(K.CEPH_FS_FAIL, "ceph fs fail: no MDS serves the file system any more (the daemons stay, as standbys)",
          P.CephFsFail, Ph.DESTROY_CEPH, rank=13, serial=True, destructive=_always),
    _spec(K.CEPH_FS_DESTROY, "pveceph fs destroy", P.CephFsDestroy, Ph.DESTROY_CEPH, rank=13, serial=True,
          destructive=_always),
    _spec(K.STORAGE_ADD, "pvesm add", P.StorageAdd, Ph.STORAGE),
    _spec(K.STORAGE_SET, "pvesm set", P.StorageSet, Ph.STORAGE),
    _spec(K.STORAGE_REMOVE, "pvesm remove (storage.cfg entry only)", P.StorageRemove, Ph.STORAGE,
          Ph.DESTROY_STORAGE, destructive=_strands_content),
    _spec(K.HA_GROUP_ADD, "ha-manager groupadd (PVE 8)", P.HaGroupAdd, Ph.HA_GROUPS),
    _spec(K.HA_GROUP_SET, "ha-manager groupset (PVE 8)", P.HaGroupSet, Ph.HA_GROUPS),
    _spec(K.HA_GROUP_REMOVE, "ha-manager groupremove (PVE 8)", P.HaGroupRemove, Ph.HA_GROUPS,
          Ph.DESTROY_HA_GROUPS),
    _spec(K.HA_RULE_ADD, "ha-manager rules add (PVE 9)", P.HaRuleAdd, Ph.HA_RULES),
    _spec(K.HA_RULE_SET, "ha-manager rules set (PVE 9)", P.HaRuleSet, Ph.HA_RULES),
    _spec(K.HA_RULE_REMOVE, "ha-manager rules remove (PVE 9)", P.HaRuleRemove, Ph.HA_RULES,
          Ph.DESTROY_HA_RULES),
    _spec(K.HA_RESOURCE_ADD, "ha-manager add", P.HaResourceAdd, Ph.HA_RESOURCES),
    _spec(K.HA_RESOURCE_SET, "ha-manager set", P.HaResourceSet, Ph.HA_RESOURCES),
    _spec(K.HA_RESOURCE_REMOVE, "ha-manager remove", P.HaResourceRemove, Ph.HA_RESOURCES,
          Ph.DESTROY_HA_RESOURCES),
    _spec(K.DATACENTER_OPTIONS_SET, "pvesh set /cluster/options: the datacenter.cfg options that differ (HA "
          "scheduler and policy, migration, email sender, workers, bandwidth limits, VMID range); sub-keys the "
          "stack does not manage are kept", P.DatacenterOptionsSet, Ph.HA_GROUPS, rank=1),
    _spec(K.HA_WATCHDOG_SET, "WATCHDOG_MODULE in /etc/default/pve-ha-manager on a node (checked on the node at "
          "every apply, as the API cannot show it; loaded at the next boot)", P.HaWatchdogSet, Ph.HA_GROUPS,
          rank=2),
    # notifications and backup jobs: after storage (a job names its storage); matchers after
    # targets (PVE refuses a matcher naming a missing target) and removed before them
    # (PVE refuses to delete a target a matcher uses)
    _spec(K.NOTIFY_TARGET_ADD, "pvesh create /cluster/notifications/endpoints/<type> (secrets written to "
          "/etc/pve/priv/notifications.cfg on the node, never in argv)", P.NotifyTargetAdd, Ph.STORAGE, rank=60),
    _spec(K.NOTIFY_TARGET_SET, "pvesh set /cluster/notifications/endpoints/<type>/<name> (changed options, "
          "--delete for unset ones)", P.NotifyTargetSet, Ph.STORAGE, rank=60),
    _spec(K.NOTIFY_TARGET_REMOVE, "pvesh delete /cluster/notifications/endpoints/<type>/<name>",
          P.NotifyTargetRemove, Ph.STORAGE, Ph.DESTROY_STORAGE, rank=43),
    _spec(K.NOTIFY_MATCHER_ADD, "pvesh create /cluster/notifications/matchers", P.NotifyMatcherAdd, Ph.STORAGE,
          rank=61),
    _spec(K.NOTIFY_MATCHER_SET, "pvesh set /cluster/notifications/matchers/<name>", P.NotifyMatcherSet,
          Ph.STORAGE, rank=61),
    _spec(K.NOTIFY_MATCHER_REMOVE, "pvesh delete /cluster/notifications/matchers/<name>", P.NotifyMatcherRemove,
          Ph.STORAGE, Ph.DESTROY_STORAGE, rank=42),
    _spec(K.BACKUP_JOB_ADD, "pvesh create /cluster/backup --id <id> (a vzdump job in jobs.cfg)", P.BackupJobAdd,
          Ph.STORAGE, rank=62),
    _spec(K.BACKUP_JOB_SET, "pvesh set /cluster/backup/<id>", P.BackupJobSet, Ph.STORAGE, rank=62),
    _spec(K.BACKUP_JOB_REMOVE, "pvesh delete /cluster/backup/<id> (the job only; its backups stay)",
          P.BackupJobRemove, Ph.STORAGE, Ph.DESTROY_STORAGE, rank=41),
)}
assert set(CATALOGUE) == set(Kind), "every kind has exactly one catalogue entry"

KINDS: frozenset[str] = frozenset(k.value for k in Kind)


def kind_spec(kind: Kind | str) -> KindSpec:
    """The definition of a kind; ValueError for a kind apply does not know."""
    try:
        return CATALOGUE[Kind(kind)]
    except ValueError:
        raise ValueError(f"unknown action kind {kind!r}") from None
