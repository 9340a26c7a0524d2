#!/usr/bin/python
"""Ansible module: one node's network change, commit-confirm style, in three steps.

A network change used to be fifteen tasks per node (stage, syntax check, read-back,
validate, keep, schedule, move, reload, wait, status, peers, links, cancel, cleanup),
each an Ansible task with its own worker process and, for most, a process on the node:
at 32 nodes that was 480 tasks in a row before anything else could start. The checks
are the same here, made in one process per step, each command an argv list (never a
shell line), each value from the stack a module argument (never playbook source):

``stage``
    edit the node's own file (``pveformat.edit``: only what the stack manages changes,
    in PVE's writer's format) and stage it as ``interfaces.new`` as PVE's network API
    does; then ifupdown2's parser (``ifup -a -s -i FILE``, waiting while another
    ifupdown2 run holds its lock, exit 89) and PVE's own reader (``pvesh get
    /nodes/N/network`` reads ``interfaces.new`` when it exists) must accept it: every
    expected interface read back with its type. A rejected file is removed (PVE's
    "Apply Configuration" would pick it up) and the step fails saying why.
``reload``
    keep the current file, schedule the node's own revert (a systemd-run timer that
    puts the kept file back and reloads), move ``interfaces.new`` into place,
    ``ifreload -a``. A node the reload cuts off reverts by itself.
``confirm``
    after the controller reached the node again (``wait_for_connection``, a task of its
    own: only the controller can prove that), the cluster must see the node online and
    quorate and each declared Corosync link must be connected to every other online
    member (``corosync-cfgtool -n``), retried as long as the window allows; then the
    revert is cancelled (a timer already gone has fired: the previous file is back, the
    step fails) and the kept file removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shlex
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible.module_utils.basic import AnsibleModule

REVERT_UNIT = "pve-provision-network-revert"
"""The transient systemd unit of the node's own revert (its timer is `<unit>.timer`)."""
KEPT_SUFFIX = ".pve-provision-previous"
"""The file the revert puts back: `/etc/network/interfaces` + this suffix."""
FILE = "/etc/network/interfaces"
"""How messages name the file (under the lab's `pve_root` its path is longer)."""
IFUPDOWN_LOCKED = 89
"""ifupdown2's exit code when another run holds its lock."""


class Stop(Exception):
    """The step refuses or fails: its message is the task's failure message."""


class Node:
    """What a step does on the node: commands (argv lists) and file operations.

    The per-kind cases (tests/actions) put a recorder in its place, so the same step
    code says which commands a case runs."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module

    def run(self, argv: Sequence[str]) -> tuple[int, str, str]:
        rc, out, err = self.module.run_command(list(argv))
        return rc, out, err

    def read(self, path: str) -> str | None:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def write(self, path: str, text: str) -> None:
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def copy(self, src: str, dst: str) -> None:
        shutil.copy2(src, dst)  # as `cp -p`: the revert puts back mode and times too

    def move(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _first_line(*texts: str) -> str:
    return next((t.strip() for t in texts if t and t.strip()), "")


def _until(node: Node, argv: Sequence[str], done: Callable[[int, str], bool], attempts: int,
           delay: float | Callable[[], float]) -> tuple[int, str, str]:
    """Run `argv` until `done(rc, stdout)` or `attempts` runs; the last answer. `delay`
    is the pause between runs, or a function giving each pause."""
    rc, out, err = node.run(argv)
    for _ in range(max(1, attempts) - 1):
        if done(rc, out):
            break
        node.sleep(delay() if callable(delay) else delay)
        rc, out, err = node.run(argv)
    return rc, out, err


# -- stage ---------------------------------------------------------------------------------


def stage(node: Node, p: Mapping[str, Any], check_mode: bool, edit: Callable[..., str]) -> dict[str, Any]:
    """Stage the edited file and have ifupdown2 and PVE's reader accept it."""
    path = p["path"]
    staged = path + ".new"
    if node.exists(staged):
        raise Stop(f"{staged} holds pending network changes (made in the GUI or API); apply or revert them on "
                   "the node first, then plan again")
    current = node.read(path) or ""
    try:
        desired = edit(current, p["interfaces"], p["physical"], p["remove"])
    except ValueError as exc:  # pveformat's InterfacesError
        raise Stop(f"the stack's interfaces break one of PVE's checks: {exc}") from None
    result = {"changed": desired != current, "staged": staged,
              "diff": {"before": current, "after": desired, "before_header": path, "after_header": staged}}
    if desired == current or check_mode:
        return result
    node.write(staged, desired)
    try:
        _check_staged(node, p, staged)
    except Stop as exc:
        node.remove(staged)  # never leave a rejected file staged
        raise Stop(f"interfaces.new was rejected and removed, {FILE} is unchanged: {exc}") from None
    return result


def _check_staged(node: Node, p: Mapping[str, Any], staged: str) -> None:
    # ifupdown2 refuses a second run while another holds /run/network/.lock: PVE's own
    # reload from the GUI on a real node, or, in a lab that runs many nodes on one host,
    # the check of a node reloading in the same batch. Waiters sleep a random 0.5-1.5 s
    # so that they do not all retry in the same instant.
    rc, out, err = _until(node, ["ifup", "-a", "-s", "-i", staged], lambda rc, _: rc != IFUPDOWN_LOCKED,
                          p["lock_retries"] + 1, lambda: random.uniform(0.5, 1.5))
    if rc != 0:
        raise Stop(_first_line(err, out) or f"ifup -a -s exited {rc}")
    rc, out, err = node.run(["pvesh", "get", f"/nodes/{p['node']}/network", "--output-format", "json"])
    if rc != 0:
        raise Stop(_first_line(err) or "PVE could not read it")
    try:
        read = json.loads(out)
    except ValueError:
        raise Stop("PVE could not read it") from None
    for want in p["expect"]:
        found = [e for e in read if isinstance(e, dict) and e.get("iface") == want["name"]
                 and e.get("type") == want["type"]]
        if len(found) != 1:
            raise Stop(f"{want['name']} is not read back as a {want['type']} from interfaces.new")


# -- reload --------------------------------------------------------------------------------


def reload(node: Node, p: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the current file, schedule the node's own revert, move the staged file into
    place and reload once."""
    path = p["path"]
    staged, kept = path + ".new", path + KEPT_SUFFIX
    node.copy(path, kept)
    revert = f"mv -f {shlex.quote(kept)} {shlex.quote(path)} && ifreload -a"
    rc, out, err = node.run(["systemd-run", f"--unit={REVERT_UNIT}", f"--on-active={p['confirm_seconds']}",
                             "/bin/sh", "-c", revert])
    if rc != 0:  # nothing changed yet: leave no staged or kept file behind
        node.remove(staged)
        node.remove(kept)
        raise Stop(f"could not schedule the node's own revert, so nothing was reloaded and interfaces.new was "
                   f"removed: {_first_line(err, out) or f'systemd-run exited {rc}'}")
    node.move(staged, path)
    rc, out, err = node.run(["ifreload", "-a"])
    if rc != 0:
        raise Stop(f"ifreload -a failed: {_first_line(err, out) or f'exit {rc}'}; the node puts back its previous "
                   f"{FILE} and reloads by itself {p['confirm_seconds']} s after the reload; nothing after this "
                   "action runs")
    return {"changed": True}


# -- confirm -------------------------------------------------------------------------------


def _view(out: str, node: str) -> tuple[bool, int, str]:
    """Whether `/cluster/status` shows `node` online in a quorate cluster (a node in no
    cluster has nothing more to show), the other online members, and what is missing."""
    try:
        status = json.loads(out)
    except ValueError:
        return False, 0, "/cluster/status is not JSON"
    cluster = [e for e in status if e.get("type") == "cluster"]
    nodes = [e for e in status if e.get("type") == "node"]
    peers = sum(1 for e in nodes if e.get("name") != node and e.get("online") == 1)
    if not cluster:
        return True, peers, ""
    mine = [e.get("online") for e in nodes if e.get("name") == node]
    if cluster[0].get("quorate") != 1:
        return False, peers, "the cluster is not quorate"
    if mine != [1]:
        return False, peers, f"the cluster does not see {node} online"
    return True, peers, ""


def _unconnected(out: str, links: Sequence[int], peers: int) -> list[str]:
    """The declared links that are not `enabled connected` to `peers` members
    (corosync-cfgtool leaves out a peer with no working link at all)."""
    missing = []
    for link in links:
        up = len(re.findall(rf"(?m)^ +LINK: {int(link)} \S+ \(\S+\) enabled connected", out))
        if up < peers:
            missing.append(f"link {link} connected to {up} of {peers} other online members")
    return missing


def confirm(node: Node, p: Mapping[str, Any]) -> dict[str, Any]:
    """The cluster still sees the node and its links work: cancel the revert."""
    name, attempts, delay = p["node"], p["retries"] + 1, p["delay"]
    why = ""
    rc, out, err = _until(node, ["pvesh", "get", "/cluster/status", "--output-format", "json"],
                          lambda rc, out: rc == 0 and _view(out, name)[0], attempts, delay)
    seen, peers, why = _view(out, name) if rc == 0 else (False, 0, _first_line(err, out) or f"pvesh exited {rc}")
    if seen and peers and p["links"]:
        rc, out, err = _until(node, ["corosync-cfgtool", "-n"],
                              lambda rc, out: rc == 0 and not _unconnected(out, p["links"], peers), attempts, delay)
        missing = _unconnected(out, p["links"], peers) if rc == 0 else [_first_line(err, out) or f"exit {rc}"]
        seen, why = not missing, "; ".join(missing)
    if not seen:
        raise Stop(f"{name} did not confirm its network change ({why}): it puts back its previous {FILE} and "
                   f"reloads by itself {p['confirm_seconds']} s after the reload; nothing after this action runs")
    rc, out, err = node.run(["systemctl", "stop", f"{REVERT_UNIT}.timer"])
    if rc != 0:  # the timer is gone: it fired, and the checks above saw the previous network
        raise Stop(f"{name}'s revert timer fired before the change was confirmed (the checks took longer than "
                   f"{p['confirm_seconds']} s): its previous {FILE} is back; nothing after this action runs. "
                   f"{_first_line(err, out)}".strip())
    node.remove(p["path"] + KEPT_SUFFIX)
    return {"changed": True, "peers": peers}


STEPS = ("stage", "reload", "confirm")
ARGUMENTS: dict[str, dict[str, Any]] = {
    "step": {"type": "str", "required": True, "choices": list(STEPS)},
    "node": {"type": "str", "required": True},
    "path": {"type": "path", "required": True},
    "interfaces": {"type": "list", "elements": "dict", "default": []},
    "remove": {"type": "list", "elements": "str", "default": []},
    "physical": {"type": "list", "elements": "str", "default": []},
    "expect": {"type": "list", "elements": "dict", "default": []},
    "lock_retries": {"type": "int", "default": 60},
    "links": {"type": "list", "elements": "int", "default": []},
    "confirm_seconds": {"type": "int", "default": 120},
    "retries": {"type": "int", "default": 1},
    "delay": {"type": "float", "default": 2.0},
}


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENTS,
        supports_check_mode=True,
    )
    p = module.params
    if module.check_mode and p["step"] != "stage":
        module.exit_json(changed=False, skipped=True, msg="nothing is reloaded in check mode")
    node = Node(module)
    try:
        if p["step"] == "stage":
            from ansible.module_utils.pveformat.edit import edit_text

            result = stage(node, p, module.check_mode, edit_text)
        elif p["step"] == "reload":
            result = reload(node, p)
        else:
            result = confirm(node, p)
    except Stop as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
