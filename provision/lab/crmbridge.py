"""The lab's only door to ``provision.crm`` (quorum arithmetic, rule compilation, placement).

The what-if tool and the lab must decide quorum and placement identically, so both call
``provision.crm``; this module only translates the lab's stored configuration (corosync.conf,
``ha/*.cfg``, runtime tables) into that package's small dataclasses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from provision.crm import quorum
from provision.lab.formats.sectionconfig import Section, parse_node_list, split_list

# The HA model and rule compiler are imported where used: every node CLI checks quorum
# through this module, and only HA commands need the rest.
if TYPE_CHECKING:
    from provision.crm.model import CrsMode, HAConfig, NodeInfo, Rule, Service
    from provision.crm.rules import Motion
    from provision.lab.formats.corosync import ClusterConf
    from provision.lab.topology import Partition


def partitions_quorum(
    conf: ClusterConf, comps: list[list[str]], expected_override: int | None, qnetd_up: bool
) -> list[Partition]:
    """Quorum per partition via ``provision.crm.quorum``; ``pvecm expected`` overrides apply on top.

    ``pvecm expected N`` is a runtime votequorum setting: it changes the threshold, not who
    holds votes, so the lab recomputes only the verdict from the shared arithmetic's votes.
    """
    from provision.lab.topology import Partition

    members = [quorum.Member(n.name, n.nodeid, n.votes) for n in conf.nodes]
    qdev = None
    if conf.qdevice is not None:
        algo: quorum.QDeviceAlgorithm = "lms" if conf.qdevice.algorithm == "lms" else "ffsplit"
        qdev = quorum.QDevice(algorithm=algo, votes=conf.qdevice.votes)
    reachable: list[str] | None = None if qnetd_up else []
    verdicts = quorum.partition_quorum(members, comps, qdev, reachable)
    out = []
    for comp, v in zip(comps, verdicts, strict=True):
        expected, threshold, quorate = v.expected, v.threshold, v.quorate
        if expected_override is not None:
            expected = int(expected_override)
            threshold = quorum.quorum_threshold(expected)
            quorate = v.votes >= threshold
        out.append(Partition(comp, v.votes, expected, threshold, quorate, v.qdevice_votes))
    return out


def ha_config(groups: list[Section], rules: list[Section]) -> HAConfig:
    """groups.cfg + rules.cfg as ``provision.crm`` sees them."""
    from provision.crm.model import Group, HAConfig, NodeAffinityRule, ResourceAffinityRule

    gs = [
        Group(g.id, parse_node_list(g.props.get("nodes", "")), g.get_bool("restricted"), g.get_bool("nofailback"))
        for g in groups
    ]
    rs: list[Rule] = []
    for r in rules:
        resources = frozenset(split_list(r.props.get("resources", "")))
        # Rules.pm foreach_rule skips a rule when `disable` *exists* (`disable 0` included)
        disabled = "disable" in r.props
        affinity = r.props.get("affinity", "positive")
        if affinity not in ("positive", "negative"):
            continue
        if r.type == "node-affinity":
            rs.append(NodeAffinityRule(r.id, resources, parse_node_list(r.props.get("nodes", "")),
                                       r.get_bool("strict"), disabled, cast(Any, affinity)))
        elif r.type == "resource-affinity":
            rs.append(ResourceAffinityRule(r.id, resources, cast(Any, affinity), disabled))
    return HAConfig(tuple(gs), tuple(rs))


def service(s: Section, node: str, memory_mib: int = 0, cores: int = 0) -> Service:
    """A resources.cfg section on ``node`` as a ``provision.crm`` service."""
    from provision.crm.model import Service

    state = s.props.get("state", "started")
    if state == "enabled":
        state = "started"
    return Service(
        sid=s.id,
        node=node,
        state=cast(Any, state),
        group=s.props.get("group"),
        failback=s.get_bool("failback", True),
        max_restart=int(s.props.get("max_restart", "1")),
        max_relocate=int(s.props.get("max_relocate", "1")),
        memory_mib=memory_mib,
        cores=cores,
    )


def rule_errors(
    groups: list[Section], rules: list[Section], resources: list[Section], nodes: list[str]
) -> dict[str, dict[str, str]]:
    """Rules the CRM would drop (PVE's feasibility checks), as the API's ``errors`` object."""
    from provision.crm.rules import compile_rules

    services = [service(s, nodes[0] if nodes else "") for s in resources]
    compiled = compile_rules(ha_config(groups, rules), services, nodes)
    out: dict[str, dict[str, list[str]]] = {}
    for d in compiled.dropped:
        out.setdefault(d.rule, {}).setdefault(d.option, []).append(d.reason)
    return {rule: {k: ", ".join(v) for k, v in errs.items()} for rule, errs in out.items()}


def resource_motion_info(
    config: HAConfig, rows: dict[str, dict[str, Any]], nodes: list[str], sid: str, target: str
) -> Motion:
    """A migrate/relocate of ``sid`` to ``target`` under the resource-affinity rules;
    ``rows`` is the CRM's service status (sid -> node, target), ignored services absent."""
    from provision.crm.rules import compile_rules, resource_motion

    compiled = compile_rules(config, [], nodes)
    status = {s: (r.get("node"), r.get("target")) for s, r in rows.items()}
    return resource_motion(compiled, sid, target, status)


def affinitive(config: HAConfig, nodes: list[str], sid: str) -> set[str]:
    """The resources kept together with ``sid`` (``get_affinitive_resources``)."""
    from provision.crm.rules import compile_rules

    return set(compile_rules(config, [], nodes).positive.get(sid, ()))


def queue_resource_motion(
    config: HAConfig, rows: dict[str, dict[str, Any]], nodes: list[str], sid: str, target: str
) -> list[str]:
    """The services a CRM command moves (``Manager.pm`` ``queue_resource_motion``): none
    when a resource kept apart from ``sid`` is on ``target``, else ``sid`` and the
    resources kept together with it."""
    motion = resource_motion_info(config, rows, nodes, sid, target)
    return [] if motion.blocking else [sid, *motion.comigrated]


def node_infos(names: list[str], online: set[str], size: dict[str, tuple[int, int]],
               maintenance: set[str] | frozenset[str] = frozenset()) -> list[NodeInfo]:
    """``size``: node -> (memory MiB, cores), used by the ``static`` CRS mode; ``maintenance``:
    nodes in the CRM's ``maintenance`` node state."""
    from provision.crm.model import NodeInfo

    return [NodeInfo(n, n in online, maintenance=n in maintenance, memory_mib=size.get(n, (0, 0))[0],
                     cores=size.get(n, (0, 0))[1])
            for n in names]


def crs_mode(datacenter: dict[str, Any]) -> CrsMode:
    """``datacenter.cfg`` ``crs: ha=basic|static`` (``dynamic`` needs live load; treated as basic)."""
    crs = datacenter.get("crs")
    mode = crs.get("ha") if isinstance(crs, dict) else None
    return "static" if mode == "static" else "basic"

