"""The line-level diff of each node's `/etc/network/interfaces` that a plan will cause.

A reviewer of a network change must see exactly which lines change, because a wrong line
there cuts a node off. The diff is computed with the code apply runs on the node
(`provision.pveformat.edit`) on the file as PVE's API describes it (every record PVE reads
from it), so the lines shown are the lines apply will write; lines outside stanzas that
the API does not return (`source ...`) are kept by apply and not shown.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from provision.actions import Action, Kind
from provision.actions import params as P
from provision.discover.observed import Observed
from provision.plan.errors import PlanError
from provision.pveformat.edit import apply_interfaces
from provision.pveformat.interfaces import InterfacesError, from_api, write

PATH = "/etc/network/interfaces"


def interfaces_diffs(actions: Sequence[Action], facts: Observed | None) -> list[dict[str, Any]]:
    """One `{node, path, diff}` per network_apply action whose node's records are known;
    `diff` is a unified diff as a list of lines. A stack whose interfaces break one of
    PVE's write-time checks on that node is a PlanError now, not a failed apply later."""
    out: list[dict[str, Any]] = []
    for action in actions:
        if action.kind != Kind.NETWORK_APPLY or action.node is None or facts is None:
            continue
        items = facts.interfaces_api.get(action.node)
        if items is None:
            continue
        assert isinstance(action.params, P.NetworkApply)
        cfg = from_api(items)
        physical = [name for name, d in cfg.ifaces.items() if d.type == "eth"]
        try:
            before = write(cfg)
        except InterfacesError:
            continue  # PVE itself could not rewrite the node's file: nothing to compare against
        try:
            apply_interfaces(cfg, action.params.interfaces, physical, action.params.remove)
            after = write(cfg)
        except InterfacesError as exc:
            raise PlanError([f'network["{action.node}"]: {exc} (PVE refuses to write this interfaces file)']) from None
        lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), f"{PATH} ({action.node})",
                                          f"{PATH} ({action.node}, planned)", n=2, lineterm=""))
        out.append({"node": action.node, "path": PATH, "diff": lines})
    return out
