"""The lab's handler table answers each request with one handler, whichever handler
modules are loaded: a node CLI imports only the modules it calls (a process per command,
as on a real node) and `registry.resolve` loads the rest only for a path none of them
answers, which is the same handler as loading everything first only while no two routes
answer one request."""

from __future__ import annotations

import re
import subprocess
import sys

from provision.lab import registry


def test_no_two_routes_answer_one_request() -> None:
    routes = registry.routes()
    assert len(routes) > 100
    for r in routes:
        path = re.sub(r"\{\w+\}", "x1", r.template)
        for pve in r.pve:
            answering = [o.template for o in routes if o.method == r.method and pve in o.pve and o.regex.match(path)]
            assert answering == [r.template], f"{r.method} {path} on PVE {pve}: {answering}"


def test_a_node_cli_loads_only_the_handlers_it_calls() -> None:
    """`ha-manager` registers /cluster/ha/* by importing their module; resolving one of
    them then loads no other handler module (nor the CRM's placement code)."""
    code = ("import sys; from provision.lab.cli import ha_manager; from provision.lab import registry; "
            "registry.resolve('POST', '/cluster/ha/resources', 8); "
            "print(sorted(m for m in sys.modules if m.startswith(('provision.lab.ops.', 'provision.crm.'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "provision.lab.ops.ha'" in loaded
    assert "provision.lab.ops.ceph'" not in loaded and "provision.crm.placement'" not in loaded
    code = "from provision.lab import registry; print(registry.resolve('GET', '/nodes/pve01/ceph/osd', 8)[0].template)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "/nodes/{node}/ceph/osd"
