"""Plan actions → an ansible-runner private data directory, with stack values as data.

Each action kind has a template, `provision/playbooks/actions/<kind>.yml.j2`, rendered
with `[[ ]]`/`[% %]`/`[# #]` delimiters so Ansible's own `{{ }}` passes through as text.
The template decides the *shape* of the tasks from the action's typed parameters (which
options are set, how many links); it never writes a parameter's text into the file.
Values reach Ansible only as data: every action's PVE texts (`pve_text`) go into
`project/vars/actions.yml` under one `!unsafe` tag, and each action's tasks see them as
`t` (e.g. `"{{ t.name }}"`), so Ansible never evaluates a comment such as
`{{ lookup('pipe', ...) }}` in a stack.

Two mechanical guards keep it so: the template reads parameters through a strict view
(an unknown name is a RenderError naming the kind and the parameter, and a string
parameter refuses to become template output), and the inventory host names, the only
stack-derived words in the playbook source, must be valid node names.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from provision.actions import PRE_CLUSTER_PHASES, Action, ActionError, Kind, pve_text
from provision.actions import params as P
from provision.actions.values import SecretParam
from provision.apply.reporter import NETWORK_CONFIRM_SECONDS
from provision.pveformat import edit as pve_edit
from provision.spec.base import NODE_NAME

# Shipped inside the package so that an installed wheel can apply (importlib.resources,
# not a path relative to a source checkout).
PLAYBOOKS_DIR = Path(str(importlib.resources.files("provision") / "playbooks"))

ACTION_KINDS = tuple(k.value for k in Kind)
SECRET_ENV_PREFIX = "PVE_PROVISION_SECRET_"


class RenderError(ValueError):
    """The plan cannot be turned into playbooks (unknown kind, unknown node, template bug...)."""


# -- the strict view templates read parameters through ----------------------------------


class StackText(str):
    """A string parameter inside a template: usable in tests (`is none`, `in`, `==`),
    but it refuses to become template output or part of a concatenation."""

    __slots__ = ()

    def __str__(self) -> str:
        raise RenderError(f"a template tried to write the parameter text {self[:40]!r} into the playbook; "
                          "reference it as {{ t.<field> }} instead")

    __format__ = None  # type: ignore[assignment]


def _view(value: Any, where: str) -> Any:
    if isinstance(value, SecretParam):
        return SecretView()
    if isinstance(value, BaseModel):
        return ParamsView(value, where)
    if isinstance(value, str):
        return StackText(value)
    if isinstance(value, Mapping):
        return MappingView({StackText(k) if isinstance(k, str) else k: _view(v, where) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_view(v, where) for v in value)
    return value


class SecretView:
    """A secret parameter: present, with no readable value (templates look it up at run time)."""

    __slots__ = ()


class MappingView(dict[Any, Any]):
    __slots__ = ()


class ParamsView:
    """Read-only, strict access to one action's typed parameters."""

    __slots__ = ("_model", "_where", "seen")

    def __init__(self, model: BaseModel, where: str) -> None:
        self._model = model
        self._where = where
        self.seen: set[str] = set()
        """The fields the template read (the catalogue test checks none is left unread)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        fields = type(self._model).model_fields
        if name not in fields:
            raise RenderError(f"{self._where}: the template reads parameter {name!r}, which "
                              f"{type(self._model).__name__} does not define (it has: {', '.join(fields) or 'none'})")
        self.seen.add(name)
        return _view(getattr(self._model, name), self._where)

    __getitem__ = __getattr__

    def __iter__(self) -> Iterator[str]:
        return iter(type(self._model).model_fields)


def _q(value: Any) -> str:
    """A YAML scalar for the template's own text (task names, flags, Ansible expressions)."""
    if isinstance(value, StackText):
        str(value)  # raises: parameter text never reaches the playbook source
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if value is None:
        return "null"
    return json.dumps(str(value), ensure_ascii=False)


def _flow(values: Sequence[Any]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


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
    env.filters.update(q=_q, flow=_flow)
    return env


# -- secrets ----------------------------------------------------------------------------


def secret_env_name(reference: str) -> str:
    """The environment variable that carries a secret into ansible-playbook.

    Derived from the reference alone, so it is stable across plans and documented for
    operators who run the playbooks elsewhere (AWX credential injectors, CI secrets):
    `env:PBS_PASSWORD` → `PVE_PROVISION_SECRET_PBS_PASSWORD`, `file:secrets/pbs.pw` →
    `PVE_PROVISION_SECRET_FILE_SECRETS_PBS_PW`."""
    kind, _, where = reference.partition(":")
    word = re.sub(r"[^A-Za-z0-9]+", "_", where).strip("_").upper()
    if kind == "file":
        word = "FILE_" + word
    if not word:
        raise RenderError(f"{reference!r} is not a secret reference")
    return SECRET_ENV_PREFIX + word


def _texts(value: Any, refs: dict[str, str]) -> Any:
    """The PVE texts of a parameter model for `t`, in the model's shape; a secret becomes
    the name of the environment variable that will hold it (never its value)."""
    if isinstance(value, SecretParam):
        name = secret_env_name(value.secret)
        other = refs.setdefault(name, value.secret)
        if other != value.secret:  # one variable cannot carry two secrets
            raise RenderError(f"secret references {other!r} and {value.secret!r} both map to the variable {name}; "
                              "rename one of them in the stack")
        return name
    if isinstance(value, BaseModel):
        return {k: _texts(getattr(value, k), refs) for k in type(value).model_fields}
    if isinstance(value, Mapping):
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
            return pve_text(value)  # node priorities
        return {str(k): _texts(v, refs) for k, v in value.items()}
    if isinstance(value, list | tuple) and any(isinstance(v, BaseModel | Mapping) for v in value):
        return [_texts(v, refs) for v in value]
    return pve_text(value)


# -- plays ------------------------------------------------------------------------------


@dataclass
class RenderedAction:
    action: Action
    index: int
    host: str
    file: str  # path relative to project/
    task_names: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    """API paths the template's guards read from the phase's probe (`a.probe(PATH)`)."""

    @property
    def label(self) -> str:
        """What task names start with (`Action 007: ...`): the runner maps it back."""
        return f"{self.index:03d}"

    @property
    def var(self) -> str:
        return f"a{self.index:03d}"


@dataclass
class HostRun:
    """What one node does in one play: the probe, then its actions in plan order.

    A probe is repeated before an action whose object an earlier action of the same play
    already changed (an OSD destroyed and created again, a storage removed and re-added):
    the answers read at the start of the play no longer hold for it."""

    host: str
    file: str  # path relative to project/
    steps: list[tuple[list[str], RenderedAction]] = field(default_factory=list)
    """(reads of a probe to run first, or [] for none; the action)."""
    parts: list[tuple[list[str], list[RenderedAction], str | None]] = field(default_factory=list)
    """What the node's task file runs: `groups` with the task file of each batch (None for
    a single action, which imports its own file)."""

    def groups(self, batchable: frozenset[str] = frozenset()) -> list[tuple[list[str], list[RenderedAction]]]:
        """The steps with each run of consecutive actions of one batchable kind (no probe
        between them) as one group: apply renders such a run as one task
        (`actions/<kind>.batch.j2`)."""
        out: list[tuple[list[str], list[RenderedAction]]] = []
        for reads, ra in self.steps:
            last = out[-1][1] if out else None
            if (last is not None and not reads and _batches(ra, batchable) and _batches(last[-1], batchable)
                    and last[-1].action.kind == ra.action.kind):
                last.append(ra)
            else:
                out.append((reads, [ra]))
        return out


def carries_secrets(params: BaseModel) -> bool:
    """Whether an action's parameters hold a secret reference (a field, or a value of a
    mapping field): its tasks are `no_log`, and it never joins a batch."""
    for name in type(params).model_fields:
        value = getattr(params, name)
        if isinstance(value, SecretParam) or (
                isinstance(value, Mapping) and any(isinstance(v, SecretParam) for v in value.values())):
            return True
    return False


def _batches(ra: RenderedAction, batchable: frozenset[str]) -> bool:
    """Whether `ra` may join a batch: its kind has a batch template, and it carries no
    secret (a secret goes through its kind's own template: stdin or a 0600 file, removed
    on every way out; a batch's member list is plain module arguments)."""
    return ra.action.kind.value in batchable and not carries_secrets(ra.action.params)


@dataclass
class Play:
    name: str
    phase: str
    hosts: list[str]
    serial: bool
    quorum_optional: bool
    actions: list[RenderedAction]
    runs: list[HostRun] = field(default_factory=list)
    vars_file: str = "vars/actions.yml"
    """The values of the actions of the node a play's host runs for (a subset of
    vars/actions.yml: vars/playNN-<node>.yml, named per host; see `_render_into`)."""

    @property
    def include(self) -> str:
        """The task file of whichever node runs it (Ansible picks it per host)."""
        return self.runs[0].file.removesuffix(f"{self.runs[0].host}.yml") + "{{ inventory_hostname }}.yml"


@dataclass
class RunDir:
    """What `render_run` produced: paths plus what the runner and record need to know."""

    root: Path
    plan_id: str
    plays: list[Play]
    actions: list[RenderedAction]
    # environment variable name → secret reference ("env:NAME" / "file:PATH"); values never here
    secret_refs: dict[str, str]
    batches: dict[str, list[str]] = field(default_factory=dict)
    """A batch's first action label → the labels of all its actions (one task for all)."""

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory"

    @property
    def playbook(self) -> Path:
        return self.project / "site.yml"


def _segment(actions: Sequence[RenderedAction], host_order: Sequence[str]) -> list[list[RenderedAction]]:
    """Cut one phase's actions into runs that one play can execute faithfully.

    A serial play (`serial: 1`) visits hosts in inventory order, so a serial run may only
    continue while hosts keep that order. A parallel play may not contain an action
    that depends on another host's action in the same play. A run on one host is both:
    its node runs its actions in order whatever the play's `serial`, so an action of
    that host joins it either way (`pveceph init` and the first `pveceph mon create`).

    An action that is neither serial nor destructive goes to the earliest play its
    dependencies allow (the planner records each ordering it needs in `depends_on`), not
    after everything before it in plan order: on a blank build the MDS creates join the
    OSD creates and `pveceph fs create` the pool's play, one probe round less each. It
    never moves before a destructive action or an earlier action on its own object.
    """
    rank = {h: i for i, h in enumerate(host_order)}
    segments: list[list[RenderedAction]] = []
    where: dict[Any, int] = {}  # action id -> its segment
    floor: dict[Any, int] = {}  # object address -> the segment of its last action so far
    barrier = 0  # the segment of the last destructive action so far

    def joins(seg: list[RenderedAction], ra: RenderedAction) -> bool:
        hosts = {c.host for c in seg}
        if hosts == {ra.host}:
            return True
        if _serial(seg) != ra.action.serial:
            return False
        if ra.action.serial:
            return rank[ra.host] > rank[seg[-1].host]
        others = [c.action for c in seg if c.host != ra.host]
        return not ({o.id for o in others} & set(ra.action.depends_on)
                    or any(o.address == ra.action.address for o in others))

    for ra in actions:
        act = ra.action
        start = len(segments) - 1 if segments else 0
        if not act.serial and not act.destructive:
            start = max([barrier, floor.get(act.address, 0)] + [where[d] for d in act.depends_on if d in where])
        index = next((i for i in range(start, len(segments)) if joins(segments[i], ra)), len(segments))
        if index == len(segments):
            segments.append([])
        segments[index].append(ra)
        where[act.id] = index
        floor[act.address] = max(floor.get(act.address, 0), index)
        if act.destructive:
            barrier = index
    return segments


def _serial(seg: Sequence[RenderedAction]) -> bool:
    """A play runs one node at a time when any of its actions must."""
    return any(ra.action.serial for ra in seg)


def _early_first(group: Sequence[RenderedAction]) -> list[RenderedAction]:
    """One phase's actions with those that need nothing of the phase moved to its start.

    The plan interleaves, e.g., each node's SSH trust with the joins it precedes
    (trust pve02, join pve02, trust pve03, join pve03, ...): in plan order every switch
    between a parallel and a serial action is a play of its own, two plays per node.
    An action that is not serial, not destructive and depends on no action of its own
    phase (the planner records each ordering it needs in `depends_on`) can run before
    all of them: the trusts of every node become one parallel play, the joins one serial
    play. Everything else keeps plan order."""
    ids = {ra.action.id for ra in group}
    early = {id(ra) for ra in group if not ra.action.serial and not ra.action.destructive
             and not ids & set(ra.action.depends_on)}
    return [ra for ra in group if id(ra) in early] + [ra for ra in group if id(ra) not in early]


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
        segments = _segment(_early_first(group), host_order)
        for i, seg in enumerate(segments):
            hosts = [h for h in host_order if h in {ra.host for ra in seg}]
            serial = _serial(seg)
            label = f"Phase {phase.value}" + (f" (part {i + 1} of {len(segments)})" if len(segments) > 1 else "")
            kinds = sorted({ra.action.kind.value for ra in seg})
            play = Play(
                name=_play_name(label, kinds, len(seg), serial),
                phase=phase.value,
                hosts=hosts,
                serial=serial,
                quorum_optional=phase in PRE_CLUSTER_PHASES,
                actions=list(seg),
            )
            play.runs = [_host_run(len(plays) + 1, h, [ra for ra in seg if ra.host == h], seg) for h in hosts]
            plays.append(play)
    return plays


def _host_run(number: int, host: str, mine: Sequence[RenderedAction], play: Sequence[RenderedAction]) -> HostRun:
    """One node's part of a play: a probe first, another before an action whose address an
    earlier action of the play (on any node) already changed; each probe reads what the
    actions from there to the next probe need."""
    run = HostRun(host=host, file=f"tasks/play{number:02d}-{host}.yml")
    # where each address was last changed in the play, and each of this node's actions' place
    position = {id(ra): i for i, ra in enumerate(play)}
    changed_at: dict[Any, list[int]] = {}
    for i, ra in enumerate(play):
        changed_at.setdefault(ra.action.address, []).append(i)
    probed_at = -1  # the position of this node's last probe
    for ra in mine:
        here = position[id(ra)]
        # an earlier action of the play (after the last probe) changed this action's object
        fresh = not run.steps or any(probed_at <= i < here for i in changed_at[ra.action.address])
        if fresh:
            probed_at = here
        run.steps.append(([] if not fresh else ["/cluster/status"], ra))
    # each probe reads what its actions (up to the next probe) need
    current: list[str] | None = None
    for reads, ra in run.steps:
        if reads:
            current = reads
        assert current is not None
        current.extend(p for p in ra.reads if p not in current)
    return run


# -- public API -------------------------------------------------------------------------


def network_data(params: Any, physical: Sequence[str] = (),
                 confirm_seconds: int = NETWORK_CONFIRM_SECONDS) -> dict[str, Any]:
    """What the node-side `pve_network` module (stage, reload, confirm) gets, as JSON data:
    the managed interfaces, the ones `--prune` removes, the node's NICs (PVE's reader lists
    each one), the (name, PVE type) pairs PVE's reader must find in the staged file, and
    the commit-confirm timing: the checks give up well before the node's revert fires."""
    wanted = [dict(i) for i in params.interfaces]
    budget = max(2, confirm_seconds // 3)  # wait + retries stay inside two thirds of the window
    return {
        "interfaces": wanted,
        "remove": list(params.remove),
        "physical": sorted(set(physical)),
        "expect": [{"name": i["name"], "type": pve_edit.PVE_TYPE[str(i["type"])]} for i in wanted],
        "links": list(params.corosync_links),
        "confirm_seconds": confirm_seconds,
        "confirm_wait": budget,
        "confirm_retries": max(1, budget // 2),
    }


def run_dir_name(plan_id: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", plan_id)[:40]
    return f"{stamp}-{safe}"


def render_run(
    plan: Mapping[str, Any],
    *,
    runs_root: Path,
    inventory: Inventory,
    now: datetime | None = None,
    playbooks: Path = PLAYBOOKS_DIR,
    physical_nics: Mapping[str, Sequence[str]] | None = None,
    network_confirm_seconds: int = NETWORK_CONFIRM_SECONDS,
) -> RunDir:
    """Lay out `<runs_root>/<UTC stamp>-<plan id>/` as ansible-runner expects it.

    `physical_nics` (node → NIC names, from discovery) are handed to the node-side edit of
    its interfaces file (PVE's reader lists every NIC); `network_confirm_seconds` is the
    commit-confirm window of each network reload.
    """
    plan_id = str(plan.get("id") or plan.get("plan_id") or "plan")
    try:
        actions = [Action.from_json(a) for a in plan.get("actions", [])]
    except ActionError as exc:
        raise RenderError(str(exc)) from None
    if not actions:
        raise RenderError("the plan has no actions; nothing to render")
    host_order = list(inventory.hosts)
    if not host_order:
        raise RenderError("the inventory has no hosts")
    bad = [h for h in host_order if not re.match(NODE_NAME, h)]
    if bad:
        raise RenderError(f"inventory host {bad[0]!r} is not a valid node name")
    any_host = host_order[0]
    for action in actions:
        if (action.node or any_host) not in inventory.hosts:
            raise RenderError(f"{action.address}: node {action.node!r} is not in the inventory")
        target = _delegated_to(action)
        if target is not None and target not in inventory.hosts and target not in inventory.external:
            # Ansible would open an SSH connection to an address nobody described
            raise RenderError(f"{action.address}: the QNetd host {target} is not in the inventory (a real "
                              "cluster: quorum.qdevice.ssh; a lab: provision lab up --qnetd "
                              f"{target})")

    runs_root = runs_root.resolve()  # ansible-runner treats a relative inventory path as inventory text
    root = runs_root / run_dir_name(plan_id, now)
    suffix = 1
    while root.exists():
        suffix += 1
        root = runs_root / f"{run_dir_name(plan_id, now)}-{suffix}"
    try:
        return _render_into(root, plan, plan_id, actions, inventory, any_host, host_order, playbooks,
                            physical_nics or {}, network_confirm_seconds)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


PROBE_PATH = re.compile(r"^/[A-Za-z0-9_./{}-]*$")


def _prober(reads: list[str], where: str) -> Any:
    """`a.probe(PATH)` for templates: records that the action's guards read PATH and
    returns the Ansible expression of its answer in the phase's probe (`pve_probe`,
    registered by the play's first task on the node), or `default` (the empty value of
    the answer's type) when the read failed, e.g. a Ceph path before `pveceph init`.
    PATH is the template's own literal text, with `{node}` for the node's name; never
    a parameter."""

    def probe(path: Any, default: str = "[]") -> str:
        if isinstance(path, StackText) or not isinstance(path, str) or not PROBE_PATH.match(path):
            raise RenderError(f"{where}: a.probe() takes the template's own literal API path (with {{node}} "
                              "for the node's name), never a parameter or an expression")
        if path not in reads:
            reads.append(path)
        return f"(pve_probe.facts['{path}'] or {default})"

    return probe


def template_context(kind: str, index: int, view: ParamsView, pve_version: Any,
                     reads: list[str] | None = None) -> dict[str, Any]:
    """What an action template sees: `a` (its label, register prefix, `a.probe`), `p`
    (its parameters, strict) and the cluster's `pve_version`."""
    return {
        "a": {"kind": kind, "label": f"{index:03d}", "r": f"pve_a{index:03d}", "no_log": False,
              "probe": _prober(reads if reads is not None else [], view._where)},
        "p": view,
        "pve_version": pve_version,
    }


def render_action(action: Action, index: int, host: str, env: jinja2.Environment, pve_version: Any,
                  refs: dict[str, str], extra: Mapping[str, Any] | None = None,
                  reads: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    """One action's task file text and its data for `vars/actions.yml` (`t`, `x`);
    `reads` collects the API paths its guards read from the phase's probe."""
    where = f"{action.kind.value} ({action.id})"
    context = template_context(action.kind.value, index, ParamsView(action.params, where), pve_version, reads)
    texts = _texts(action.params, refs)
    context["a"]["no_log"] = carries_secrets(action.params)
    try:
        text = env.get_template(action.spec.template).render(**context)
    except jinja2.UndefinedError as exc:
        raise RenderError(f"{where}: template error: {exc}") from None
    data: dict[str, Any] = {"t": texts, "x": dict(extra or {}), "host": host}
    return text, data


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
    network_confirm_seconds: int = NETWORK_CONFIRM_SECONDS,
) -> RunDir:
    (root / "project" / "tasks").mkdir(parents=True)
    (root / "project" / "vars").mkdir()
    (root / "inventory").mkdir()
    (root / "env").mkdir()

    env = _environment(playbooks)
    refs: dict[str, str] = {}
    rendered: list[RenderedAction] = []
    data: dict[str, Any] = {}
    for index, action in enumerate(actions, start=1):
        host = action.node or any_host
        rel = f"tasks/{index:03d}-{action.kind.value}.yml"
        ra = RenderedAction(action=action, index=index, host=host, file=rel)
        extra: dict[str, Any] = {}
        if action.kind == Kind.NETWORK_APPLY:
            extra = network_data(action.params, physical_nics.get(host, ()), network_confirm_seconds)
        text, data[ra.var] = render_action(action, index, host, env, plan.get("pve_version"), refs, extra,
                                           ra.reads)
        tasks = _yaml_load(text) or []
        _require_no_log(action, tasks)
        (root / "project" / rel).write_text(text, encoding="utf-8")
        ra.task_names = _leaf_task_names(tasks)
        rendered.append(ra)

    plays = _plays(rendered, host_order)
    batches = _render_batches(root, plays, env, plan.get("pve_version"), playbooks)
    write_action_vars(root / "project" / "vars" / "actions.yml", data)
    # Ansible parses a play's vars_files again for every task on every host (ansible-core
    # VariableManager.get_vars: `cache="vaulted"`, plain files are not kept), so each node
    # loads in each play only its own actions' values: with every action's (a 32-node plan:
    # 2,600 actions, 670 kB) ansible-playbook parsed for minutes before its first task, and
    # with the play's (the network play: 210 kB) each task waited seconds. The path names
    # the host (`vars_files` are templated per host); without one (Ansible's host-less
    # look-ups) it names no file, which Ansible skips.
    for number, play in enumerate(plays, start=1):
        play.vars_file = f"vars/play{number:02d}-" + "{{ inventory_hostname | default('') }}.yml"
        for run in play.runs:
            write_action_vars(root / "project" / "vars" / f"play{number:02d}-{run.host}.yml",
                              {ra.var: data[ra.var] for _, ra in run.steps})
    site = env.get_template("site.yml.j2").render(plays=plays, actions_total=len(rendered))
    (root / "project" / "site.yml").write_text(site, encoding="utf-8")
    host_run = env.get_template("host-run.yml.j2")
    for play in plays:
        for run in play.runs:
            (root / "project" / run.file).write_text(host_run.render(play=play, run=run), encoding="utf-8")
    shutil.copy(playbooks / "ansible.cfg", root / "project" / "ansible.cfg")
    _ship_modules(root / "project", playbooks)
    inventory.write(root / "inventory")
    # ansible-runner settings: nothing secret lives here (secrets travel in memory only)
    (root / "env" / "settings").write_text(
        json.dumps({"suppress_ansible_output": True, "rotate_artifacts": 0}, indent=2) + "\n", encoding="utf-8"
    )
    (root / "plan.json").write_text(json.dumps(plan, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return RunDir(root=root, plan_id=plan_id, plays=plays, actions=rendered, secret_refs=refs, batches=batches)


BATCH_SUFFIX = ".batch.j2"


def batchable_kinds(playbooks: Path = PLAYBOOKS_DIR) -> frozenset[str]:
    """Kinds with a batch template (`actions/<kind>.batch.j2`): their consecutive
    actions on one node become one task."""
    return frozenset(f.name.removesuffix(BATCH_SUFFIX) for f in (playbooks / "actions").glob("*" + BATCH_SUFFIX))


def _render_batches(root: Path, plays: Sequence[Play], env: jinja2.Environment, pve_version: Any,
                    playbooks: Path) -> dict[str, list[str]]:
    """Write one task file per batch (a run of 2+ actions of a batchable kind on one node)
    and point its members at it; returns first member's label → every member's label
    (the runner reports each member's outcome from the batch task's result)."""
    kinds = batchable_kinds(playbooks)
    out: dict[str, list[str]] = {}
    for play in plays:
        for run in play.runs:
            run.parts = []
            for probe_reads, members in run.groups(kinds):
                rel: str | None = None
                if len(members) > 1:
                    first = members[0]
                    where = f"{first.action.kind.value} batch ({first.action.id}, {len(members)} actions)"
                    reads: list[str] = []
                    view = ParamsView(first.action.params, where)
                    context = template_context(first.action.kind.value, first.index, view, pve_version, reads)
                    context["batch"] = [{"label": ra.label, "var": ra.var, "p": ParamsView(ra.action.params, where)}
                                        for ra in members]
                    text = env.get_template(f"actions/{first.action.kind.value}{BATCH_SUFFIX}").render(**context)
                    unknown = [r for r in reads if r not in first.reads]
                    if unknown:
                        raise RenderError(f"{where}: the batch template reads {unknown[0]} from the probe, which "
                                          "the kind's own template does not")
                    rel = f"tasks/{first.label}-{first.action.kind.value}.batch.yml"
                    (root / "project" / rel).write_text(text, encoding="utf-8")
                    names = _leaf_task_names(_yaml_load(text) or [])
                    for ra in members:
                        ra.task_names = names
                    out[first.label] = [ra.label for ra in members]
                run.parts.append((probe_reads, members, rel))
    return out


def _ship_modules(project: Path, playbooks: Path) -> None:
    """Our own Ansible modules (`library/`), the PVE formats they edit with
    (`module_utils/pveformat`, the very package the lab uses) and the strategy of
    parallel plays (`strategy_plugins/`), next to site.yml where ansible-playbook looks
    for them."""
    for sub in ("library", "strategy_plugins"):
        shutil.copytree(playbooks / sub, project / sub, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(Path(pve_edit.__file__).parent, project / "module_utils" / "pveformat",
                    ignore=shutil.ignore_patterns("__pycache__"))


def write_action_vars(path: Path, data: Mapping[str, Any]) -> None:
    """Every action's values as one `!unsafe` mapping: Ansible reads them as data and
    never evaluates `{{ }}` or `{% %}` inside them. JSON is YAML, and `ensure_ascii`
    escapes every control character, so no value can end the mapping early."""
    path.write_text("---\n# Action values (data, never templated). Generated by pve-provision.\n"
                    "pve_actions: !unsafe " + json.dumps(data, sort_keys=True, ensure_ascii=True) + "\n",
                    encoding="utf-8")


def _yaml_load(text: str) -> Any:
    """Our own rendered task files (and the lab's JSON inventory): libyaml's C loader when
    PyYAML has it, ruamel's pure-Python one otherwise. A 2,600-action plan parses each
    action's file once; the pure loader made that most of the render time."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None:
        return yaml.load(text, Loader=loader)  # a safe loader
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def _leaf_task_names(tasks: Sequence[Any]) -> list[str]:
    """Names of the tasks that report events, in order: a block reports nothing itself,
    its tasks (block, rescue, always) do; so an action's last task is the last of those."""
    names: list[str] = []
    for task in tasks:
        if not isinstance(task, dict):
            continue
        if "block" in task:
            for part in ("block", "rescue", "always"):
                names += _leaf_task_names(task.get(part) or [])
        else:
            names.append(str(task.get("name", "")))
    return names


def _require_no_log(action: Action, tasks: Sequence[Any]) -> None:
    """Every task that reads a secret must be `no_log: true`, or Ansible would print and
    record its value (the command line in the result). A template that does not mark
    such a task is a bug: refuse to render rather than leak."""
    for task in tasks:
        if isinstance(task, dict) and "'ansible.builtin.env'" in json.dumps(task, default=str) \
                and task.get("no_log") is not True:
            raise RenderError(f"{action.address}: task {task.get('name')!r} of {action.kind.value} would carry a "
                              "secret without no_log; secrets are not supported in this action kind")


def _delegated_to(action: Action) -> str | None:
    """The inventory host a kind's tasks are delegated to besides the action's node."""
    params = action.params
    if isinstance(params, P.QnetdInstall):
        return params.host
    if isinstance(params, P.SshTrust):
        return params.peer
    return None


# -- inventories ------------------------------------------------------------------------


@dataclass
class Inventory:
    """The hosts Ansible will talk to, in node order, and how to write them out."""

    hosts: list[str]
    source_file: Path | None = None
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    external: list[str] = field(default_factory=list)
    """Hosts that are not PVE nodes (group `qnetd`, named by their address): only tasks
    delegated from a node reach them."""

    @classmethod
    def from_lab(cls, inventory_file: Path, nodes: Sequence[str] | None = None) -> Inventory:
        """A lab brings its own inventory (docs/lab-contract.md); we copy it verbatim."""
        data = _yaml_load(inventory_file.read_text(encoding="utf-8")) or {}
        groups = (data.get("all") or {}).get("children") or {}
        found = _group_hosts(groups["pve"]) if "pve" in groups else _inventory_hosts(data)
        order = [n for n in nodes if n in found] if nodes else found
        return cls(hosts=order, source_file=inventory_file, external=_group_hosts(groups.get("qnetd") or {}))

    @classmethod
    def from_nodes(cls, nodes: Sequence[Any], qdevice: Any = None) -> Inventory:
        """A real cluster: one host per spec node, reached over SSH as its `ssh` block says,
        and the QNetd host of `qdevice` (named by its address) as `quorum.qdevice.ssh` says."""
        hv = {node.name: _ssh_vars(node.ssh_host, node.ssh) for node in nodes}
        external: list[str] = []
        if qdevice is not None:
            external = [str(qdevice.host)]
            hv[str(qdevice.host)] = _ssh_vars(qdevice.ssh.host or str(qdevice.host), qdevice.ssh)
        return cls(hosts=[n.name for n in nodes], host_vars=hv, external=external)

    def write(self, directory: Path) -> Path:
        target = directory / "hosts.yml"
        if self.source_file is not None:
            shutil.copy(self.source_file, target)
        else:
            groups: dict[str, Any] = {"pve": {"hosts": {h: self.host_vars.get(h, {}) for h in self.hosts}}}
            if self.external:
                groups["qnetd"] = {"hosts": {h: self.host_vars.get(h, {}) for h in self.external}}
            doc = {"all": {"children": groups}}
            # JSON is YAML: no dumper needed, and values are quoted safely.
            target.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        return target


def _ssh_vars(host: str, ssh: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"ansible_host": host, "ansible_user": ssh.user, "ansible_port": ssh.port}
    if ssh.key_file is not None:
        out["ansible_ssh_private_key_file"] = str(Path(ssh.key_file).expanduser())
    return out


def _group_hosts(group: Mapping[str, Any], into: list[str] | None = None) -> list[str]:
    """Hosts of one inventory group and its children, in file order."""
    hosts = [] if into is None else into
    for h in group.get("hosts") or {}:
        if h not in hosts:
            hosts.append(str(h))
    for child in (group.get("children") or {}).values():
        _group_hosts(child or {}, hosts)
    return hosts


def _inventory_hosts(data: Mapping[str, Any]) -> list[str]:
    hosts: list[str] = []
    for top in data.values():
        if isinstance(top, Mapping):
            _group_hosts(top, hosts)
    return hosts
