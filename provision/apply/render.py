"""Plan actions → an ansible-runner private data directory.

Why a renderer of our own rather than Ansible variables everywhere: each action's
parameters are known when the plan is made, so the generated task files carry them as
literals. A reviewer (or `--check`) then sees the exact `pvecm`/`pveceph`/`ha-manager`
command lines that will run, and the run directory is a self-contained record.

Templates use `[[ ]]`, `[% %]` and `[# #]` so that Ansible's own `{{ }}` expressions
(run-time facts such as `inventory_hostname` or the probe results) pass through as
text. Every literal inserted into YAML goes through the `q` filter: a JSON-quoted
scalar (valid YAML), wrapped in `{% raw %}` when it contains template markers, so a
comment such as "{{ x }}" in a stack can never be evaluated by Ansible.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from provision.apply import interfaces as ifaces

# Shipped inside the package so that an installed wheel can apply (importlib.resources,
# not a path relative to a source checkout).
PLAYBOOKS_DIR = Path(str(importlib.resources.files("provision") / "playbooks"))

ACTION_KINDS = (
    "network_apply",
    "cluster_create",
    "cluster_join",
    "node_remove",
    "corosync_link_set",
    "corosync_link_remove",
    "corosync_totem_set",
    "qdevice_setup",
    "qdevice_remove",
    "ceph_init",
    "ceph_mon_create",
    "ceph_mon_destroy",
    "ceph_mgr_create",
    "ceph_mgr_destroy",
    "ceph_osd_create",
    "ceph_osd_destroy",
    "ceph_osd_set",
    "ceph_pool_create",
    "ceph_pool_set",
    "ceph_pool_destroy",
    "ceph_mds_create",
    "ceph_mds_destroy",
    "ceph_fs_create",
    "ceph_fs_destroy",
    "storage_add",
    "storage_set",
    "storage_remove",
    "ha_group_add",
    "ha_group_set",
    "ha_group_remove",
    "ha_rule_add",
    "ha_rule_set",
    "ha_rule_remove",
    "ha_resource_add",
    "ha_resource_set",
    "ha_resource_remove",
)

# Phases that run before a cluster exists: there, "not clustered yet" is not an error.
PRE_CLUSTER_PHASES = frozenset({"network", "cluster"})

_TEMPLATE_MARKERS = ("{{", "{%", "{#")
DEFAULT_MTU = 1500


class RenderError(ValueError):
    """The plan cannot be turned into playbooks (unknown kind, unknown node...)."""


class Params(dict[str, Any]):
    """Action parameters for templates: an absent optional key reads as None.

    StrictUndefined stays on for everything else, so a typo in a template still fails.
    """

    def __missing__(self, key: str) -> None:
        return None


def _params(value: Any) -> Any:
    if isinstance(value, Tpl):
        return value
    if isinstance(value, Mapping):
        return Params({str(k): _params(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return [_params(v) for v in value]
    return value


class Tpl(str):
    """A string that *is* an Ansible expression: inserted without `!unsafe`."""

    __slots__ = ()


@dataclass(frozen=True)
class Action:
    """One plan action, as the plan document carries it (field names of docs/plan-format.md)."""

    id: str
    phase: str
    kind: str
    node: str | None
    address: str
    params: Mapping[str, Any]
    serial: bool = False
    destructive: bool = False
    depends_on: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Action:
        return cls(
            id=str(data["id"]),
            phase=str(data["phase"]),
            kind=str(data["kind"]),
            node=data.get("node"),
            address=str(data.get("address", "")),
            params=dict(data.get("params") or {}),
            serial=bool(data.get("serial", False)),
            destructive=bool(data.get("destructive", False)),
            depends_on=tuple(str(d) for d in data.get("depends_on") or ()),
        )


@dataclass
class RenderedAction:
    action: Action
    index: int
    host: str
    file: str  # path relative to project/
    task_names: list[str] = field(default_factory=list)


@dataclass
class Play:
    name: str
    phase: str
    hosts: list[str]
    serial: bool
    free: bool
    check_quorum: bool
    quorum_optional: bool
    actions: list[RenderedAction]


@dataclass
class RunDir:
    """What `render_run` produced: paths plus what the runner and record need to know."""

    root: Path
    plan_id: str
    plays: list[Play]
    actions: list[RenderedAction]
    # extravar key → secret reference description ("env:NAME" / "file:PATH"); values never here
    secret_refs: dict[str, str]

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory"

    @property
    def playbook(self) -> Path:
        return self.project / "site.yml"


# -- Jinja environment ------------------------------------------------------------------


def _q(value: Any) -> str:
    """A YAML scalar for a literal value: JSON form, wrapped in a raw block when it looks like a template."""
    if isinstance(value, Tpl):
        return json.dumps(str(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if value is None:
        return "null"
    text = str(value)
    if any(marker in text for marker in _TEMPLATE_MARKERS):
        # Keep it literal for Ansible (and readable for ansible-lint): a raw block.
        if "endraw" in text:
            raise RenderError(f"value {text!r} cannot be passed through Ansible literally")
        text = "{% raw %}" + text + "{% endraw %}"
    return json.dumps(text, ensure_ascii=False)


def _jl(value: Any) -> str:
    """A Jinja string literal (inside an Ansible expression such as `when:`)."""
    return json.dumps(str(value), ensure_ascii=False)


def _sq(value: Any) -> str:
    """A single-quoted Jinja string literal, for expressions inside a YAML "..." scalar."""
    text = str(value)
    if any(c in text for c in "'\\\"") or any(m in text for m in _TEMPLATE_MARKERS):
        raise RenderError(f"value {text!r} cannot be embedded in an expression")
    return f"'{text}'"


def _flow(values: Sequence[Any]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _csv(values: Any) -> str:
    if isinstance(values, str):
        return values
    return ",".join(str(v) for v in values)


def _nodes_prio(value: Any) -> str:
    """`{pve01: 2, pve02: 0}` → `pve01:2,pve02` (PVE prints priority 0 bare)."""
    if isinstance(value, str):
        return value
    return ",".join(f"{n}:{p}" if p else str(n) for n, p in sorted(dict(value).items()))


def _optval(value: Any) -> Any:
    """A CLI option value: booleans as PVE's 1/0, numbers as text, Tpl kept as is."""
    if isinstance(value, Tpl):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _b(value: Any) -> str:
    return "1" if value else "0"


def _environment(playbooks: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(playbooks)),
        block_start_string="[%",
        block_end_string="%]",
        variable_start_string="[[",
        variable_end_string="]]",
        comment_start_string="[#",
        comment_end_string="#]",
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(
        q=_q, flow=_flow, csv=_csv, nodes_prio=_nodes_prio, b=_b, optval=_optval, jl=_jl, sq=_sq, from_json=json.loads
    )
    env.globals.update(T=Tpl)
    return env


# -- secrets ----------------------------------------------------------------------------

_SECRET_DESC = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$")


def secret_env_name(var: str) -> str:
    """The environment variable that carries secret `var` into ansible-playbook."""
    return "PVE_PROVISION_SECRET_" + var.upper()


def _is_secret(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"secret"}


def _secret_params(action: Action, index: int, refs: dict[str, str]) -> dict[str, Any]:
    """Replace each `{"secret": "env:NAME"}` by an Ansible lookup of a private variable.

    The value itself is resolved by the runner, in memory, and reaches ansible-playbook
    only through its process environment (`secret_env_name`): never a file, and never
    the command line, which every local user can read in /proc. The rendered files
    carry the lookup expression only.
    """
    out: dict[str, Any] = {}
    for key, value in action.params.items():
        if _is_secret(value):
            desc = str(value["secret"])
            if not _SECRET_DESC.match(desc):
                raise RenderError(f"{action.address}: {key} is not a secret reference ({desc!r})")
            var = f"a{index:03d}_{re.sub(r'[^a-z0-9_]', '_', key.lower())}"
            refs[var] = desc
            out[key] = Tpl("{{ lookup('ansible.builtin.env', '" + secret_env_name(var) + "') }}")
        else:
            out[key] = value
    return out


# -- plays ------------------------------------------------------------------------------


def _segment(actions: Sequence[RenderedAction], host_order: Sequence[str]) -> list[list[RenderedAction]]:
    """Cut one phase's actions into runs that one play can execute faithfully.

    A serial play (`serial: 1`) visits hosts in inventory order, so a serial run may only
    continue while hosts keep that order. A parallel play (`strategy: free`) lets each host
    race through its own tasks, so it may not contain an action that depends on another
    host's action in the same play.
    """
    rank = {h: i for i, h in enumerate(host_order)}
    segments: list[list[RenderedAction]] = []
    for ra in actions:
        current = segments[-1] if segments else None
        start_new = current is None
        if current is not None:
            serial = current[0].action.serial
            if ra.action.serial != serial:
                start_new = True
            elif serial:
                last = current[-1]
                if rank[ra.host] < rank[last.host] or (
                    rank[ra.host] == rank[last.host] and len({c.host for c in current}) > 1
                ):
                    start_new = True
            else:
                ids_other_host = {c.action.id for c in current if c.host != ra.host}
                if ids_other_host & set(ra.action.depends_on):
                    start_new = True
        if start_new:
            segments.append([ra])
        else:
            assert current is not None
            current.append(ra)
    return segments


def _play_name(label: str, kinds: Sequence[str], count: int, serial: bool) -> str:
    what = ", ".join(kinds)
    if len(what) > 80:
        what = f"{count} actions"
    return f"{label}: {what}" + (" (one node at a time)" if serial else "")


def _plays(rendered: Sequence[RenderedAction], host_order: Sequence[str]) -> list[Play]:
    # consecutive actions of one phase (deletions may revisit a phase later, in reverse)
    groups: list[list[RenderedAction]] = []
    for ra in rendered:
        if groups and groups[-1][0].action.phase == ra.action.phase:
            groups[-1].append(ra)
        else:
            groups.append([ra])
    plays: list[Play] = []
    for group in groups:
        phase = group[0].action.phase
        segments = _segment(group, host_order)
        for i, seg in enumerate(segments):
            hosts = [h for h in host_order if h in {ra.host for ra in seg}]
            serial = seg[0].action.serial
            label = f"Phase {phase}" + (f" (part {i + 1} of {len(segments)})" if len(segments) > 1 else "")
            kinds = sorted({ra.action.kind for ra in seg})
            plays.append(
                Play(
                    name=_play_name(label, kinds, len(seg), serial),
                    phase=phase,
                    hosts=hosts,
                    serial=serial,
                    free=not serial and len(hosts) > 1,
                    check_quorum=True,
                    quorum_optional=phase in PRE_CLUSTER_PHASES,
                    actions=list(seg),
                )
            )
    return plays


# -- public API -------------------------------------------------------------------------


def _network_interfaces(params: Mapping[str, Any], physical: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The interfaces the file must hold: the desired set, then what the plan says to keep
    (interfaces found on the node that the stack does not mention, unless --prune), then
    every other physical NIC of the node as a bare `iface X inet manual` stanza, as PVE's
    writer lists each NIC it finds (no `auto`, after the NICs that have a position)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    bare = [{"name": n, "type": "nic", "autostart": False} for n in sorted(set(physical))]
    for iface in [*params.get("interfaces", []), *params.get("keep", []), *bare]:
        if iface["name"] in seen:
            continue
        seen.add(iface["name"])
        item = dict(iface)
        if item.get("mtu") == DEFAULT_MTU:
            item["mtu"] = None  # the plan states the kernel default; PVE writes no line for it
        out.append(item)
    return out


def run_dir_name(plan_id: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", plan_id)[:40]
    return f"{stamp}-{safe}"


def interfaces_text(interfaces: Sequence[Mapping[str, Any]], playbooks: Path = PLAYBOOKS_DIR) -> str:
    """The `/etc/network/interfaces` body PVE would write for this interface set.

    `source` lines kept from the node's current file are appended at run time.
    """
    template = _environment(playbooks).get_template("templates/interfaces.j2")
    return template.render(stanzas=ifaces.stanzas(interfaces))


def render_run(
    plan: Mapping[str, Any],
    *,
    runs_root: Path,
    inventory: Inventory,
    now: datetime | None = None,
    playbooks: Path = PLAYBOOKS_DIR,
    physical_nics: Mapping[str, Sequence[str]] | None = None,
) -> RunDir:
    """Lay out `<runs_root>/<UTC stamp>-<plan id>/` as ansible-runner expects it.

    `physical_nics` (node → NIC names, from discovery) lets `network_apply` keep the NICs
    that neither the stack nor the plan mention in the file, as PVE itself would.
    """
    plan_id = str(plan.get("id") or plan.get("plan_id") or "plan")
    actions = [Action.from_json(a) for a in plan.get("actions", [])]
    if not actions:
        raise RenderError("the plan has no actions; nothing to render")
    host_order = list(inventory.hosts)
    if not host_order:
        raise RenderError("the inventory has no hosts")
    any_host = host_order[0]

    for action in actions:
        if action.kind not in ACTION_KINDS:
            raise RenderError(f"{action.address}: unknown action kind {action.kind!r}")
        if (action.node or any_host) not in inventory.hosts:
            raise RenderError(f"{action.address}: node {action.node!r} is not in the inventory")

    runs_root = runs_root.resolve()  # ansible-runner treats a relative inventory path as inventory text
    root = runs_root / run_dir_name(plan_id, now)
    suffix = 1
    while root.exists():
        suffix += 1
        root = runs_root / f"{run_dir_name(plan_id, now)}-{suffix}"
    try:
        return _render_into(root, plan, plan_id, actions, inventory, any_host, host_order, playbooks,
                            physical_nics or {})
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _render_into(
    root: Path,
    plan: Mapping[str, Any],
    plan_id: str,
    actions: Sequence[Action],
    inventory: Inventory,
    any_host: str,
    host_order: Sequence[str],
    playbooks: Path,
    physical_nics: Mapping[str, Sequence[str]],
) -> RunDir:
    (root / "project" / "tasks").mkdir(parents=True)
    (root / "project" / "files").mkdir()
    (root / "inventory").mkdir()
    (root / "env").mkdir()

    env = _environment(playbooks)
    refs: dict[str, str] = {}
    rendered: list[RenderedAction] = []
    for index, action in enumerate(actions, start=1):
        host = action.node or any_host
        rel = f"tasks/{index:03d}-{action.kind}.yml"
        ra = RenderedAction(action=action, index=index, host=host, file=rel)
        params = _secret_params(action, index, refs)
        context: dict[str, Any] = {
            "a": {
                "id": action.id,
                "kind": action.kind,
                "address": action.address,
                "node": action.node,
                "host": host,
                "r": f"pve_a{index:03d}",
                "no_log": any(isinstance(v, Tpl) for v in params.values()),
            },
            "p": _params(params),
            "pve_version": plan.get("pve_version"),
        }
        if action.kind == "network_apply":
            wanted = _network_interfaces(action.params, physical_nics.get(host, ()))
            body = interfaces_text(wanted, playbooks)
            file_name = f"interfaces-{host}"
            (root / "project" / "files" / file_name).write_text(body, encoding="utf-8")
            context["interfaces_file"] = file_name
            context["interfaces"] = [{"name": i["name"], "type": ifaces.pve_type(str(i["type"]))} for i in wanted]
        text = env.get_template(f"actions/{action.kind}.yml.j2").render(**context)
        tasks = _yaml_load(text) or []
        _require_no_log(action, tasks)
        (root / "project" / rel).write_text(text, encoding="utf-8")
        ra.task_names = [str(t.get("name", "")) for t in tasks if isinstance(t, dict)]
        rendered.append(ra)

    plays = _plays(rendered, host_order)
    site = env.get_template("site.yml.j2").render(plays=plays, plan_id=plan_id, actions_total=len(rendered))
    (root / "project" / "site.yml").write_text(site, encoding="utf-8")
    shutil.copy(playbooks / "tasks" / "quorum-check.yml", root / "project" / "tasks" / "quorum-check.yml")
    shutil.copy(playbooks / "ansible.cfg", root / "project" / "ansible.cfg")
    inventory.write(root / "inventory")
    # ansible-runner settings: nothing secret lives here (secrets travel in memory only)
    (root / "env" / "settings").write_text(
        json.dumps({"suppress_ansible_output": True, "rotate_artifacts": 0}, indent=2) + "\n", encoding="utf-8"
    )
    (root / "plan.json").write_text(json.dumps(plan, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return RunDir(root=root, plan_id=plan_id, plays=plays, actions=rendered, secret_refs=refs)


def _yaml_load(text: str) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def _require_no_log(action: Action, tasks: Sequence[Any]) -> None:
    """Every task that reads a secret must be `no_log: true`, or Ansible would print and
    record its value (the command line in the result). A template that does not mark
    such a task is a bug: refuse to render rather than leak."""
    for task in tasks:
        if isinstance(task, dict) and "PVE_PROVISION_SECRET_" in json.dumps(task, default=str) \
                and task.get("no_log") is not True:
            raise RenderError(f"{action.address}: task {task.get('name')!r} of {action.kind} would carry a "
                              "secret without no_log; secrets are not supported in this action kind")


# -- inventories ------------------------------------------------------------------------


@dataclass
class Inventory:
    """The hosts Ansible will talk to, in node order, and how to write them out."""

    hosts: list[str]
    source_file: Path | None = None
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_lab(cls, inventory_file: Path, nodes: Sequence[str] | None = None) -> Inventory:
        """A lab brings its own inventory (docs/lab-contract.md); we copy it verbatim."""
        data = _yaml_load(inventory_file.read_text(encoding="utf-8")) or {}
        found = _inventory_hosts(data)
        order = [n for n in nodes if n in found] if nodes else found
        return cls(hosts=order, source_file=inventory_file)

    @classmethod
    def from_nodes(cls, nodes: Sequence[Any]) -> Inventory:
        """A real cluster: one host per spec node, reached over SSH as its `ssh` block says."""
        hv: dict[str, dict[str, Any]] = {}
        for node in nodes:
            ssh = node.ssh
            vars_: dict[str, Any] = {
                "ansible_host": node.ssh_host,
                "ansible_user": ssh.user,
                "ansible_port": ssh.port,
            }
            if ssh.key_file is not None:
                vars_["ansible_ssh_private_key_file"] = str(Path(ssh.key_file).expanduser())
            hv[node.name] = vars_
        return cls(hosts=[n.name for n in nodes], host_vars=hv)

    def write(self, directory: Path) -> Path:
        target = directory / "hosts.yml"
        if self.source_file is not None:
            shutil.copy(self.source_file, target)
        else:
            doc = {"all": {"children": {"pve": {"hosts": {h: self.host_vars.get(h, {}) for h in self.hosts}}}}}
            # JSON is YAML: no dumper needed, and values are quoted safely.
            target.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        return target


def _inventory_hosts(data: Mapping[str, Any]) -> list[str]:
    hosts: list[str] = []

    def walk(group: Mapping[str, Any]) -> None:
        for h in group.get("hosts") or {}:
            if h not in hosts:
                hosts.append(str(h))
        for child in (group.get("children") or {}).values():
            walk(child or {})

    for top in data.values():
        if isinstance(top, Mapping):
            walk(top)
    return hosts
