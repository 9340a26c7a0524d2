"""Issue 15, part 6: webhook notification targets, and where a target's secret travels.

From a converged lab (`lab up --from stacks/lab.yaml`) through the real CLI: an SMTP
target with a password and a webhook target with a named secret, headers and a body;
apply, plan again to zero, change a header, zero again, `provision import` plans to zero.

While the apply runs, a watcher reads every file that appears or changes under the state
directory (run records, the lab's node directories), the working directory, /tmp,
/dev/shm and ~/.ansible, and every process's command line in /proc; afterwards the lab's
log of every node CLI's argv is read. The secrets (as text and as base64) must be found
only where PVE keeps them: the nodes' /etc/pve/priv/notifications.cfg (and the pmxcfs
database behind it).

The tests share one lab and run in file order.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_lab import Lab, stack_copy, start, stop

pytestmark = [pytest.mark.e2e, pytest.mark.ansible]

SMTP_SECRET = "smtp-w-Secret-93ae1"
HOOK_SECRET = "hook-w-Secret-5d7f0"
SECRETS = [s.encode() for v in (SMTP_SECRET, HOOK_SECRET) for s in (v, base64.b64encode(v.encode()).decode())]
ALERTS = """
notifications:
  targets:
    - {name: ops-mail, type: smtp, server: smtp.example.com, mode: starttls, username: pve,
       password: {env: SMTP_PASSWORD}, from_address: pve@example.com, mailto: [ops@example.com]}
    - name: chat
      type: webhook
      url: "https://chat.example.com/hooks/{{ secrets.channel }}"
      headers: {Content-Type: application/json, X-Env: lab}
      body: '{"text": "{{ title }}"}'
      secrets: {channel: {env: CHAT_KEY}}
  matchers:
    - {name: fencing, match_field: ["exact:type=fencing"], target: [ops-mail, chat]}
"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("work")
    built = start(tmp_path_factory.mktemp("home"), work, "--from", str(stack_copy(work / "base.yaml")),
                  secrets={"SMTP_PASSWORD": SMTP_SECRET, "CHAT_KEY": HOOK_SECRET})
    try:
        yield built
    finally:
        stop(built)





def _converged(lab: Lab, stack: Path) -> None:
    proc = lab.cli("plan", str(stack), "--detailed-exitcode")
    assert proc.returncode == 0 and "No changes." in proc.stdout, proc.stdout + proc.stderr


def _allowed(lab: Lab, path: Path) -> bool:
    """Where PVE keeps the secrets: the private file (each node's view of /etc/pve) and
    the pmxcfs database behind it."""
    inside = path.is_relative_to(lab.lab_dir)
    return inside and (path.name.startswith("pmxcfs.db") or path.as_posix().endswith("/priv/notifications.cfg"))


def _files(root: Path) -> Iterator[Path]:
    """Every file under `root`; directories that vanish while walked are skipped."""
    for top, _dirs, names in os.walk(root, onerror=lambda _err: None):
        for name in names:
            yield Path(top, name)


class Watcher:
    """Reads every file that appears or changes under `roots` and every command line in
    /proc, until stopped; records where a secret was seen."""

    def __init__(self, lab: Lab, roots: list[Path]) -> None:
        self.lab = lab
        self.roots = [r for r in roots if r.exists()]
        self.seen: dict[Path, float] = {}
        self.leaks: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        for root in self.roots:  # what is there before the apply is not the apply's
            for path in _files(root):
                try:
                    self.seen[path] = path.stat().st_mtime
                except OSError:
                    continue

    def _check(self, where: str, data: bytes) -> None:
        if any(s in data for s in SECRETS):
            self.leaks.add(where)

    def _scan(self) -> None:
        for root in self.roots:
            for path in _files(root):
                try:
                    st = path.stat()
                    if not path.is_file() or self.seen.get(path) == st.st_mtime or st.st_size > 16 << 20:
                        continue
                    self.seen[path] = st.st_mtime
                    if not _allowed(self.lab, path):
                        self._check(str(path), path.read_bytes())
                except OSError:
                    continue
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    self._check(f"argv of pid {proc.name}", (proc / "cmdline").read_bytes())
                except OSError:
                    continue

    def _loop(self) -> None:
        while not self.stop.is_set():
            self._scan()
        self._scan()

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=120)


def test_webhook_and_smtp_secrets_reach_only_the_private_file(lab: Lab) -> None:
    stack = lab.with_base("alerts.yaml", ALERTS)
    plan = lab.cli("plan", str(stack))
    assert plan.returncode == 0, plan.stderr
    assert '+ notifications.target["chat"]' in plan.stdout and "Plan: 3 to add" in plan.stdout
    roots = [lab.home, lab.work, Path("/tmp"), Path("/dev/shm"), Path.home() / ".ansible"]
    with Watcher(lab, roots) as watch:
        proc = lab.cli("apply", str(stack), "--auto-approve")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert watch.leaks == set()
    argv = [json.loads(line) for line in (lab.lab_dir / "argv.log").read_text().splitlines()]
    hook = ["pvesh", "create", "/cluster/notifications/endpoints/webhook"]
    creates = [a["argv"] for a in argv if a["argv"][:3] == hook]
    assert len(creates) == 1 and f"name=X-Env,value={_b64('lab')}" in creates[0]
    assert not [a for a in argv if any(s.decode() in " ".join(a["argv"]) for s in SECRETS)]
    # PVE's files: the webhook secret base64 in priv, headers and body base64 in public
    assert f"webhook: chat\n\tsecret name=channel,value={_b64(HOOK_SECRET)}\n" in lab.etc("priv/notifications.cfg")
    public = lab.etc("notifications.cfg")
    assert f"\theader name=Content-Type,value={_b64('application/json')}\n" in public
    assert "\tbody " + _b64('{"text": "{{ title }}"}') + "\n" in public and "\tmethod post\n" in public
    assert not [s for s in SECRETS if s.decode() in public]
    _converged(lab, stack)


def test_a_changed_header_and_a_new_secret_converge(lab: Lab) -> None:
    text = ALERTS.replace("X-Env: lab", "X-Env: prod").replace(
        "secrets: {channel: {env: CHAT_KEY}}", "secrets: {channel: {env: CHAT_KEY}, sig: {env: SMTP_PASSWORD}}")
    stack = lab.with_base("changed.yaml", text)
    plan = lab.cli("plan", str(stack))
    assert plan.returncode == 0, plan.stderr
    assert '~ notifications.target["chat"]' in plan.stdout and "Plan: 0 to add, 1 to change" in plan.stdout
    proc = lab.cli("apply", str(stack), "--auto-approve")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _converged(lab, stack)
    got = json.loads(lab.node_cli("pve01", "pvesh", "get", "/cluster/notifications/endpoints/webhook/chat",
                                  "--output-format", "json").stdout)
    assert got["secret"] == ["name=channel", "name=sig"] and f"name=X-Env,value={_b64('prod')}" in got["header"]


def test_import_round_trip(lab: Lab) -> None:
    out = lab.work / "imported.yaml"
    proc = lab.cli("import", "--lab", "default", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "type: webhook" in text and "X-Env: prod" in text and "CHAT_SECRET_CHANNEL" in text
    _converged(lab, out)
