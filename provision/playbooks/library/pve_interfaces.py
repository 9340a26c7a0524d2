#!/usr/bin/python
"""Ansible module: apply a stack's interfaces to this node's /etc/network/interfaces.

It runs on the node, so the edit starts from the file as it is at apply time: the node
reads its current file, changes only what the stack manages (``pveformat.edit``, the same
PVE-faithful reader/writer the lab uses, shipped as module_utils) and stages the result
as ``interfaces.new``, the way PVE's own network API stages an edit. Nothing is reloaded
here; the playbook checks the staged file before it moves it into place.
"""

from __future__ import annotations

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.pveformat.edit import edit_text
from ansible.module_utils.pveformat.interfaces import InterfacesError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "interfaces": {"type": "list", "elements": "dict", "required": True},
            "remove": {"type": "list", "elements": "str", "default": []},
            "physical": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    staged = path + ".new"
    if os.path.exists(staged):
        module.fail_json(msg=f"{staged} holds pending network changes (made in the GUI or API); apply or "
                             "revert them on the node first, then plan again")
    try:
        with open(path, encoding="utf-8") as fh:
            current = fh.read()
    except FileNotFoundError:
        current = ""
    try:
        desired = edit_text(current, module.params["interfaces"], module.params["physical"],
                            module.params["remove"])
    except InterfacesError as exc:
        module.fail_json(msg=f"the stack's interfaces break one of PVE's checks: {exc}")
    changed = desired != current
    if changed and not module.check_mode:
        tmp = f"{staged}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(desired)
        os.chmod(tmp, 0o644)
        os.replace(tmp, staged)
    module.exit_json(changed=changed, staged=staged, current=current, desired=desired,
                     diff={"before": current, "after": desired, "before_header": path, "after_header": staged})


if __name__ == "__main__":
    main()
