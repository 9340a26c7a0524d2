"""Webhook notification targets (PVE >= 8.3) as PVE keeps and serves them
(docs/lab-contract.md "Notifications and backup jobs"): headers and body base64-encoded,
secrets in the private file and answered by name only, update's base64 and secret checks.
Real node `pvesh` and real HTTP to the lab."""

from __future__ import annotations

import base64
from pathlib import Path

from labkit import LabHandle, start_lab, stop_lab

PATH = "/cluster/notifications/endpoints/webhook"
STACK = Path(__file__).resolve().parents[2] / "stacks" / "lab.yaml"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _etc(lab: LabHandle, name: str) -> str:
    path = lab.root / "nodes/pve01/root/etc/pve" / name
    return path.read_text() if path.exists() else ""


def test_webhook_secrets_live_in_priv_and_are_answered_by_name(lab8: LabHandle) -> None:
    lab8.node("pve01", "pvesh", "create", PATH, "--name", "hook", "--url", "https://h.example.com/{{ secrets.tok }}",
              "--method", "post", "--header", f"name=Content-Type,value={_b64('application/json')}",
              "--header", f"name=X-Env,value={_b64('lab')}", "--body", _b64('{"t": "{{ title }}"}'),
              "--secret", f"name=tok,value={_b64('hook-Secret-1')}")
    got = lab8.get(PATH + "/hook")
    assert got["method"] == "post" and got["body"] == _b64('{"t": "{{ title }}"}')
    assert got["header"] == [f"name=Content-Type,value={_b64('application/json')}", f"name=X-Env,value={_b64('lab')}"]
    assert got["secret"] == ["name=tok"] and got["origin"] == "user-created"
    assert [t["name"] for t in lab8.get(PATH)] == ["hook"]
    public, private = _etc(lab8, "notifications.cfg"), _etc(lab8, "priv/notifications.cfg")
    assert f"webhook: hook\n\tsecret name=tok,value={_b64('hook-Secret-1')}\n" in private
    assert "webhook: hook\n" in public and _b64("hook-Secret-1") not in public and "\tmethod post\n" in public
    # update: a secret named without a value keeps the stored one; an unknown one is refused
    lab8.node("pve01", "pvesh", "set", PATH + "/hook", "--secret", "name=tok", "--comment", "x")
    assert f"secret name=tok,value={_b64('hook-Secret-1')}" in _etc(lab8, "priv/notifications.cfg")
    r = lab8.request("PUT", PATH + "/hook", secret="name=other")
    assert r.status_code == 400 and "secret 'other' not known" in r.text
    r = lab8.request("PUT", PATH + "/hook", header="name=X-Bad,value=not base64!")
    assert r.status_code == 400 and "header 'X-Bad' does not have valid base64 encoded data" in r.text
    lab8.node("pve01", "pvesh", "set", PATH + "/hook", "--delete", "secret")
    assert "secret" not in lab8.get(PATH + "/hook") and "tok" not in _etc(lab8, "priv/notifications.cfg")
    lab8.ok("DELETE", PATH + "/hook")


def test_webhook_needs_url_and_method(lab8: LabHandle) -> None:
    r = lab8.request("POST", PATH, name="nourl", method="post")
    assert r.status_code == 400 and "url" in r.text
    r = lab8.request("POST", PATH, name="nomethod", url="https://h.example.com")
    assert r.status_code == 400 and "method" in r.text
    r = lab8.request("POST", PATH, name="badmethod", url="https://h.example.com", method="patch")
    assert r.status_code == 400 and "enumeration" in r.text


def test_lab_up_from_a_stack_seeds_a_webhook_as_pve_keeps_it(tmp_path: Path) -> None:
    """`lab up --from` makes the stack's webhook through the API (headers and body base64,
    secrets left out like every seeded secret)."""
    stack = tmp_path / "hook.yaml"
    stack.write_text(STACK.read_text() + """
notifications:
  targets:
    - {name: chat, type: webhook, url: "https://chat.example.com/x", headers: {X-Env: lab}, body: "{{ title }}",
       secrets: {key: {env: CHAT_KEY}}}
""")
    lab = start_lab(tmp_path / "home", "hookseed", "--from", str(stack))
    try:
        got = lab.get(PATH + "/chat")
        assert got["header"] == [f"name=X-Env,value={_b64('lab')}"] and got["body"] == _b64("{{ title }}")
        assert "secret" not in got and got["method"] == "post"
    finally:
        stop_lab(lab)
