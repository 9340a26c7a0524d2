"""Debian packages a node has installed: what `pveceph install` adds and PVE checks.

A freshly installed PVE node has no Ceph: `pveceph init` and the daemon creates refuse
until `pveceph install` wrote the Ceph repository and installed the packages, and
`GET /nodes/{node}/apt/versions` lists `ceph` only once it is installed (it is one of
pve-manager's optional packages). Each node keeps its own list (lab meta `packages`),
and so does each external host (keyed by its address).

`apt/versions` lists a fixed set of package names (pve-manager `PVE/API2/APT.pm`
`versions`: `@pkgs` and `@opt_pack`, 9: ~L839-893, 8: ~L772-825); neither
`corosync-qdevice` nor `corosync-qnetd` is among them, so installing them (`apt-get
install`, as pvecm.adoc tells the admin) never shows there.
"""

from __future__ import annotations

from typing import Any

from provision.lab.ops.common import require_node
from provision.lab.registry import ApiError, Ctx, route
from provision.lab.store import Store

# Ceph releases per PVE major (pve-manager PVE/Ceph/Releases.pm), the default first.
CEPH_RELEASES: dict[int, dict[str, str]] = {
    8: {"quincy": "17.2.8-pve2", "reef": "18.2.7-pve1", "squid": "19.2.3-pve2"},
    9: {"tentacle": "20.2.0-pve1", "squid": "19.2.3-pve2"},
}
DEFAULT_RELEASE = {8: "quincy", 9: "tentacle"}
REPOSITORIES = ("enterprise", "no-subscription", "test")
CEPH_PACKAGES = ("ceph", "ceph-common", "ceph-fuse", "ceph-mds", "ceph-volume", "gdisk", "nvme-cli")
BASE = {8: {"pve-manager": "8.4.1", "proxmox-ve": "8.4.0", "corosync": "3.1.9-pve1"},
        9: {"pve-manager": "9.1.1", "proxmox-ve": "9.1.0", "corosync": "3.1.9-pve2"}}
OPTIONAL = frozenset({"ceph", "ceph-fuse"})
# What `apt-get install` can add from Debian's own repositories (bookworm for PVE 8,
# trixie for PVE 9): the QDevice's two halves.
DEBIAN = {8: {"corosync-qdevice": "3.0.3-1", "corosync-qnetd": "3.0.3-1"},
          9: {"corosync-qdevice": "3.0.3-1+b1", "corosync-qnetd": "3.0.3-1+b1"}}


def installed(store: Store, node: str) -> dict[str, str]:
    return dict((store.get_meta("packages", {}) or {}).get(node, {}))


def install(store: Store, node: str, packages: dict[str, str]) -> None:
    every: dict[str, dict[str, str]] = dict(store.get_meta("packages", {}) or {})
    every[node] = {**every.get(node, {}), **packages}
    store.set_meta("packages", every)


def ceph_packages(pve_version: int, release: str) -> dict[str, str]:
    version = CEPH_RELEASES[pve_version][release]
    return {p: version for p in CEPH_PACKAGES if p not in ("gdisk", "nvme-cli")}


def require_ceph(ctx: Ctx, node: str, binary: str) -> None:
    """`check_ceph_installed`: the daemon's binary must exist on the node."""
    if "ceph" not in installed(ctx.store, node):
        if binary == "init":
            raise ApiError(500, "Ceph Nautilus required - please run 'pveceph install'")
        raise ApiError(500, f"binary not installed: /usr/bin/{binary}")


@route("GET", "/nodes/{node}/apt/versions")
def versions(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    node = params["node"]
    require_node(ctx, node)
    have = {**BASE[ctx.pve_version], **installed(ctx.store, node)}
    names = [*BASE[ctx.pve_version], *sorted(OPTIONAL)]
    out: list[dict[str, Any]] = []
    for name in names:
        if name not in have:
            continue  # an optional package that is not installed is left out
        out.append({"Package": name, "Title": name, "Origin": "Proxmox", "Version": have[name],
                    "OldVersion": have[name], "CurrentState": "Installed"})
    return out
