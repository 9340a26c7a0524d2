"""Run one action's rendered tasks through Ansible's own template engine, without hosts.

This is how the per-kind JSON cases check "params → the exact commands": the action is
rendered exactly as apply renders it, then each task's `when`, `argv`, `set_fact` and
`assert` is evaluated by ansible-core's Templar with the same variables a real run has
(`t`/`x` as untrusted data, as `!unsafe` makes them; probe results from the case). What
the real modules would do on a node is not simulated: a probe's result comes from the
case (`reads`: the phase probe's answer for each API path the template names with
`a.probe`, null for a failed read; `probes`: a template's own read tasks), and a command
that changes something is only recorded.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template
from ruamel.yaml import YAML

from provision.actions import Action, Kind
from provision.apply import render
from provision.pveformat.edit import edit_text

COMMAND = "ansible.builtin.command"
init_plugin_loader()  # lookups (file, env) as ansible-playbook loads them


def render_case(case: Mapping[str, Any], files_dir: Path) -> tuple[Action, list[dict[str, Any]], dict[str, Any]]:
    """The action, its rendered task list and its data (`t`, `x`, and `reads`: the paths
    its guards read from the phase probe), as apply makes them."""
    action = Action.from_json(case["action"])
    env = render._environment(render.PLAYBOOKS_DIR)
    host = action.node or case.get("host", "pve01")
    extra: dict[str, Any] = {}
    if action.kind == Kind.NETWORK_APPLY:
        extra = render.network_data(action.params, case.get("physical_nics", []))
    reads: list[str] = []
    text, data = render.render_action(action, 1, host, env, case.get("pve_version", 8), {}, extra, reads)
    tasks = YAML(typ="safe", pure=True).load(text) or []
    return action, tasks, {**data, "reads": reads}


class _HostVars(dict[str, Any]):
    """`hostvars[<any node>]`: a real node, where files live under `/` (pve_root empty)."""

    def __missing__(self, key: str) -> dict[str, Any]:
        return {"pve_root": ""}


def _library(name: str) -> Any:
    """One of our Ansible modules, imported from the playbooks directory."""
    path = render.PLAYBOOKS_DIR / "library" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"pve_library_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PVE_NETWORK = _library("pve_network")
PVE_COMMAND = _library("pve_command")


class CaseNode:
    """The node a `pve_network` step acts on, in a case: files from the case, command
    answers from its `probes`; each operation becomes a record (repeats of one command,
    as retries make them, are one record with `times`)."""

    def __init__(self, run: Run, step: str) -> None:
        self.r, self.step = run, step

    def _record(self, record: dict[str, Any]) -> None:
        last = self.r.records[-1] if self.r.records else None
        if last is not None and {k: v for k, v in last.items() if k != "times"} == record:
            last["times"] = last.get("times", 1) + 1
        else:
            self.r.records.append(record)

    def run(self, argv: list[str]) -> tuple[int, str, str]:
        self._record({"task": self.step, "argv": list(argv)})
        return self.r.answer(list(argv))

    def read(self, path: str) -> str | None:
        return self.r.files.get(path)

    def exists(self, path: str) -> bool:
        return path in self.r.files

    def write(self, path: str, text: str) -> None:
        self.r.files[path] = text
        self.r.records.append({"task": self.step, "stage": path, "content": text})

    def copy(self, src: str, dst: str) -> None:
        self.r.files[dst] = self.r.files.get(src, "")
        self.r.records.append({"task": self.step, "copy": [src, dst]})

    def move(self, src: str, dst: str) -> None:
        self.r.files[dst] = self.r.files.pop(src, "")
        self.r.records.append({"task": self.step, "move": [src, dst]})

    def remove(self, path: str) -> None:
        self.r.files.pop(path, None)
        self.r.records.append({"task": self.step, "remove": path})

    def sleep(self, seconds: float) -> None:
        pass


class Run:
    def __init__(self, case: Mapping[str, Any], data: Mapping[str, Any], files_dir: Path) -> None:
        self.case = case
        loader = DataLoader()
        loader.set_basedir(str(files_dir))
        host = data["host"]
        self.vars: dict[str, Any] = {
            "t": data["t"], "x": data["x"], "inventory_hostname": host, "ansible_check_mode": False,
            "pve_root": "", "omit": "__omit__", "hostvars": _HostVars(),
            "pve_probe": {"facts": self.phase_reads(data.get("reads", []))},
        }
        self.loader = loader
        self.records: list[dict[str, Any]] = []
        self.stopped = False
        self.files: dict[str, str] = dict(case.get("files", {}))
        """The node's files as the case gives them, changed by what the steps do."""
        self.asked: dict[str, int] = {}

    def templar(self, extra: Mapping[str, Any] | None = None) -> Templar:
        return Templar(loader=self.loader, variables={**self.vars, **(extra or {})})

    def value(self, expr: Any, extra: Mapping[str, Any] | None = None) -> Any:
        if isinstance(expr, str):
            return self.templar(extra).template(trust_as_template(expr))
        if isinstance(expr, list):
            return [self.value(e, extra) for e in expr]
        if isinstance(expr, dict):
            return {k: self.value(v, extra) for k, v in expr.items()}
        return expr

    def cond(self, when: Any, extra: Mapping[str, Any] | None = None) -> bool:
        if when is None:
            return True
        items = when if isinstance(when, list) else [when]
        return all(self.templar(extra).evaluate_conditional(
            trust_as_template(w) if isinstance(w, str) else w) for w in items)

    def run(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for task in tasks:
            if self.stopped:
                break
            self.task(task)
        return self.records

    def task(self, task: dict[str, Any]) -> None:
        if "block" in task:
            if self.cond(task.get("when")):
                self.run(task["block"])
                if self.stopped and "rescue" in task:
                    self.stopped = False  # a failure in the block runs its rescue tasks
                    self.run(task["rescue"])
                if "always" in task:  # runs whatever happened in the block
                    stopped, self.stopped = self.stopped, False
                    self.run(task["always"])
                    self.stopped = self.stopped or stopped
            return
        if "ansible.builtin.tempfile" in task:
            # one made-up path per loop item, registered as the module would
            items = self.value(task["loop"]) if "loop" in task else [None]
            results = [{"item": item, "path": f"/tmp/pve-provision-tmp{i}"} for i, item in enumerate(items)]
            self.vars[task["register"]] = {"results": results} if "loop" in task else results[0]
            self.records.append({"task": str(task.get("name", "")).split(": ", 1)[-1], "tempfiles": len(results)})
            return
        loop = task.get("loop")
        items = self.value(loop) if loop is not None else [None]
        for item in items:
            extra = {"item": item} if loop is not None else {}
            for key, expr in (task.get("vars") or {}).items():
                extra[key] = self.value(expr, extra)  # task vars may use the ones before them, as in Ansible
            self.one(task, extra)

    def one(self, task: dict[str, Any], extra: dict[str, Any]) -> None:
        name = str(task.get("name", ""))
        step = name.split(": ", 1)[-1]
        runs = self.cond(task.get("when"), extra)
        if COMMAND in task:
            probe = task.get("changed_when") is False
            argv = [str(a) for a in self.value(task[COMMAND]["argv"], extra)] if runs else None
            record: dict[str, Any] = {"task": step, "runs": runs}
            if runs:
                record["argv"] = argv
                if "delegate_to" in task:
                    record["on"] = self.value(task["delegate_to"], extra)
                if "stdin" in task[COMMAND]:
                    record["stdin"] = self.value(task[COMMAND]["stdin"], extra)
            if task.get("no_log"):
                record["no_log"] = True
            if probe:
                record["probe"] = True
            self.records.append(record)
            reg = task.get("register")
            if reg:
                self.vars[reg] = self.probe_result(reg) if runs else {"skipped": True}
                result = self.vars[reg]
                failed_when = task.get("failed_when")
                failed = (result.get("rc", 0) != 0 if failed_when is None
                          else failed_when is not False and self.cond(failed_when, extra))
                if runs and failed:
                    # a failing command fails its task (a rescue sees it as ansible_failed_result)
                    self.vars["ansible_failed_result"] = {**result, "msg": "non-zero return code"}
                    self.records.append({"task": step, "fails": str(result.get("stderr", ""))})
                    self.stopped = True
        elif "ansible.builtin.set_fact" in task:
            if runs:
                for key, expr in task["ansible.builtin.set_fact"].items():
                    self.vars[key] = self.value(expr, extra)
        elif "ansible.builtin.assert" in task:
            if runs:
                args = task["ansible.builtin.assert"]
                ok = all(self.cond(c, extra) for c in args["that"])
                if not ok:
                    msg = str(self.value(args.get("fail_msg", ""), extra))
                    self.vars["ansible_failed_result"] = {"msg": msg}
                    self.records.append({"task": step, "fails": msg})
                    self.stopped = True
        elif "pve_network" in task:
            if runs:
                self.network_step(task, step, extra)
        elif "pve_command" in task:
            if runs:
                self.command_step(task, step, extra)
            else:
                self.records.append({"task": step, "runs": False})
        elif "pve_notify_secret" in task:
            # Our own module: it edits /etc/pve/priv/notifications.cfg; the record names the
            # secrets it would set, never their values (they come from the environment).
            if runs:
                raw = task["pve_notify_secret"]
                args = self.value({k: v for k, v in raw.items() if k != "secrets"}, extra)
                names = self.value("{{ t.secrets }}", extra)
                self.records.append({"task": step, "notify_secret": args["path"], "type": args["type"],
                                     "name": args["name"], "no_log": bool(task.get("no_log")),
                                     "secrets_from": sorted([k, v] for k, v in names.items())})
        elif "ansible.builtin.wait_for_connection" in task:
            if runs:
                self.records.append({"task": step, "wait_for_connection": self.value(
                    task["ansible.builtin.wait_for_connection"], extra)})
        elif "ansible.builtin.slurp" in task:
            src = str(self.value(task["ansible.builtin.slurp"]["src"], extra))
            content = self.case.get("files", {}).get(src)
            if content is None:
                raise KeyError(f"case has no content for slurp of {src}")
            self.vars[task["register"]] = {"content": base64.b64encode(content.encode()).decode()}
        elif "ansible.builtin.copy" in task:
            if runs:
                args = self.value(task["ansible.builtin.copy"], extra)
                record = {"task": step, "copy": args["dest"], "content": args.get("content")}
                if task.get("no_log"):
                    record["no_log"] = True
                if "mode" in args:
                    record["mode"] = args["mode"]
                self.records.append(record)
        elif "ansible.builtin.lineinfile" in task or "pve_line" in task:
            # our own pve_line adds a line as lineinfile does, only under a lock of the file,
            # after reading the file `read` names (the case's `files`), as slurp does
            if runs and "read" in (task.get("pve_line") or {}):
                src = str(self.value(task["pve_line"]["read"], extra))
                if src not in self.case.get("files", {}):
                    raise KeyError(f"case has no content for the read of {src}")
                self.vars[task["register"]] = {"content": self.case["files"][src]}
            if runs and "line" in (task.get("ansible.builtin.lineinfile") or task["pve_line"]):
                args = self.value(task.get("ansible.builtin.lineinfile") or task["pve_line"], extra)
                record = {"task": step, "lineinfile": args["path"], "line": args["line"]}
                if "delegate_to" in task:
                    record["on"] = self.value(task["delegate_to"], extra)
                self.records.append(record)
        elif "ansible.builtin.file" in task:
            if runs:
                self.records.append({"task": step, "file": self.value(task["ansible.builtin.file"], extra)})
        elif "ansible.builtin.fail" in task:
            if runs:
                msg = " ".join(str(self.value(task["ansible.builtin.fail"].get("msg", ""), extra)).split())
                self.records.append({"task": step, "fails": msg})
                self.stopped = True
        else:
            raise ValueError(f"taskrun does not know the module of task {name!r}: {sorted(task)}")

    def network_step(self, task: dict[str, Any], step: str, extra: dict[str, Any]) -> None:
        """Our own module (library/pve_network.py): its step code runs here against the
        case's files and answers, recording each command and file operation it makes."""
        args = dict(self.value(task["pve_network"], extra))
        for key, spec in PVE_NETWORK.ARGUMENTS.items():
            args.setdefault(key, spec.get("default"))
            if spec["type"] in ("int", "float") and args[key] is not None:
                args[key] = int(args[key]) if spec["type"] == "int" else float(args[key])
        node = CaseNode(self, step)
        try:
            if args["step"] == "stage":
                result = PVE_NETWORK.stage(node, args, False, edit_text)
            elif args["step"] == "reload":
                result = PVE_NETWORK.reload(node, args)
            else:
                result = PVE_NETWORK.confirm(node, args)
        except PVE_NETWORK.Stop as exc:
            self.vars["ansible_failed_result"] = {"msg": str(exc)}
            self.records.append({"task": step, "fails": str(exc)})
            self.stopped = True
            return
        if task.get("register"):
            self.vars[task["register"]] = result

    def command_step(self, task: dict[str, Any], step: str, extra: dict[str, Any]) -> None:
        """Our own module (library/pve_command.py): its code runs here, each command it
        makes answered by the case's `probes` entry of its step (`wait`, `run`, `check`);
        the command itself is recorded as a command task is, the reads as probes."""
        args = self.value(task["pve_command"], extra)
        node = CaseNode(self, step)

        def run(role: str, argv: Any) -> tuple[int, str, str]:
            node._record({"task": step, "runs": True, "argv": list(argv)} if role == "run"
                         else {"task": step, "argv": list(argv), "probe": role})
            return self.given(role)

        try:
            PVE_COMMAND.execute(args, run, node.sleep)
        except PVE_COMMAND.Stop as exc:
            self.vars["ansible_failed_result"] = {**exc.result, "msg": str(exc)}
            self.records.append({"task": step, "fails": str(exc)})
            self.stopped = True

    def answer(self, argv: list[str]) -> tuple[int, str, str]:
        """A node command's answer from the case's `probes`, keyed by what it asks."""
        key = {"ifup": "syntax", "corosync-cfgtool": "links", "systemctl": "cancel", "systemd-run": "schedule",
               "ifreload": "reload"}.get(argv[0], "")
        if argv[:2] == ["pvesh", "get"]:
            key = "confirm" if argv[2] == "/cluster/status" else "parsed"
        return self.given(key)

    def given(self, key: str) -> tuple[int, str, str]:
        """The case's `probes[key]` answer (a list of answers is given out in order, its
        last one repeated)."""
        given = self.case.get("probes", {}).get(key, {"rc": 0})
        if isinstance(given, list):
            count = self.asked.get(key, 0)
            self.asked[key] = count + 1
            given = given[min(count, len(given) - 1)]
        out = given.get("stdout", "")
        return int(given.get("rc", 0)), out if isinstance(out, str) else json.dumps(out), str(given.get("stderr", ""))

    def phase_reads(self, paths: list[str]) -> dict[str, Any]:
        """The phase probe's answers for the paths the template reads, from the case."""
        given = self.case.get("reads", {})
        missing = [p for p in paths if p not in given]
        if missing:
            raise KeyError(f"case has no phase probe answer (reads) for {missing}")
        return {p: given[p] for p in paths}

    def probe_result(self, reg: str) -> dict[str, Any]:
        """A probe's registered result from the case, keyed by the register name without
        its `pve_a001_` prefix; `stdout` may be given as JSON data."""
        key = reg.split("_", 2)[-1]
        probes = self.case.get("probes", {})
        if key not in probes:
            raise KeyError(f"case has no probe result for {key!r} (register {reg})")
        result = dict(probes[key])
        if not isinstance(result.get("stdout", ""), str):
            result["stdout"] = json.dumps(result["stdout"])
        result.setdefault("rc", 0)
        result.setdefault("stdout", "")
        return result


def run_case(case: Mapping[str, Any], files_dir: Path) -> list[dict[str, Any]]:
    """The case's records: each command with its argv (or that its guard skipped it),
    each file written, and a failed assertion's message."""
    try:
        _, tasks, data = render_case(case, files_dir)
    except (render.RenderError, jinja2.TemplateError) as exc:
        return [{"render_error": str(exc)}]
    saved = {k: os.environ.get(k) for k in case.get("env", {})}
    os.environ.update(case.get("env", {}))
    try:
        return Run(case, data, files_dir).run(tasks)
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
