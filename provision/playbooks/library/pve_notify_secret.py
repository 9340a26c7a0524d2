#!/usr/bin/python
"""Ansible module: set a notification target's secrets in /etc/pve/priv/notifications.cfg.

PVE keeps an SMTP password or a Gotify token in a private section named like the target
(proxmox-rs `proxmox-notify`, `set_private_config_entry`), a webhook's named secrets there
as `secret name=<name>,value=<base64>` lines (`endpoints/webhook.rs`), and its API takes them only as
parameters, which `pvesh` reads from argv alone (pve-manager `PVE/CLI/pvesh.pm` has no
password mapping). So the value reaches the node as module data under `no_log`, and this
module edits the private file the way the crate writes it: `type: name` and one tab-indented
`key value` line per secret. pmxcfs allows renames inside /etc/pve only, so the new text is
written next to the file and renamed over it. Nothing changes when the values are there.
"""

from __future__ import annotations

import base64
import os

from ansible.module_utils.basic import AnsibleModule


def _sections(text: str) -> list[tuple[str, str, list[str]]]:
    out: list[tuple[str, str, list[str]]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            kind, _, name = line.partition(":")
            out.append((kind.strip(), name.strip(), []))
        elif out:
            out[-1][2].append(line.strip())
    return out


def _text(sections: list[tuple[str, str, list[str]]]) -> str:
    return "\n".join(f"{k}: {n}\n" + "".join(f"\t{p}\n" for p in props) for k, n, props in sections if props)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "type": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "secrets": {"type": "dict", "required": True, "no_log": True},
        },
        supports_check_mode=True,
    )
    path, kind, name = module.params["path"], module.params["type"], module.params["name"]
    secrets = {str(k): str(v) for k, v in module.params["secrets"].items()}
    if any(not v or "\n" in v or "\r" in v for v in secrets.values()):
        module.fail_json(msg=f"a secret of notification target {name} is empty or not one line")
    try:
        with open(path, encoding="utf-8") as fh:
            current = fh.read()
    except FileNotFoundError:
        current = ""
    sections = [s for s in _sections(current) if s[1] != name]
    mine = next((s for s in _sections(current) if s[1] == name), (kind, name, []))
    if kind == "webhook":
        # the set of named secrets, each `secret name=<n>,value=<base64>` (webhook.rs KeyAndBase64Val)
        props = [p for p in mine[2] if p.partition(" ")[0] != "secret"]
        props += [f"secret name={k},value={base64.b64encode(v.encode()).decode()}" for k, v in sorted(secrets.items())]
    else:
        props = [p for p in mine[2] if p.partition(" ")[0] not in secrets]
        props += [f"{k} {v}" for k, v in sorted(secrets.items())]
    sections.append((kind, name, props))
    desired = _text(sections)
    changed = desired != current
    if changed and not module.check_mode:
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(desired)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    module.exit_json(changed=changed)


if __name__ == "__main__":
    main()
