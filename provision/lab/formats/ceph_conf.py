"""``/etc/pve/ceph.conf`` as PVE reads and writes it (pve-storage ``PVE/CephConfig.pm``).

``pveceph init`` and ``pveceph mon create`` edit ceph.conf through PVE's writer, which imposes
its own layout: sections in a fixed order (``global``, ``client``, ``client.*``, ``mds``,
``mds.*``, ``mon``, ``mon.*``, ``osd``, ``osd.*``, ``mgr``, ``mgr.*``, then the rest; names
sorted within each group), keys sorted, ``<TAB>key = value`` lines, a blank line after each
section, and ``;``/``#`` inside values escaped with a backslash. The lab writes the file
through the same rules so the provisioner's discovery reads what it would read on a node.

The reader follows Ceph's grammar as far as PVE does: ``;``/``#`` comments, ``[section]``
headers, keys with spaces normalised to underscores (``osd pool default size`` ->
``osd_pool_default_size``), quoted values, backslash line continuations and escapes. Lines it
cannot read are skipped (PVE warns and skips them as well).

``pveceph_init`` and ``add_monitor``/``remove_monitor`` reproduce the edits those commands make.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence

__all__ = [
    "CephConf",
    "add_monitor",
    "parse",
    "pveceph_init",
    "remove_monitor",
    "write",
]

#: section name -> key -> value
CephConf = dict[str, dict[str, str]]

_SECTION_ORDER = (
    r"global",
    r"client",
    r"client\..*",
    r"mds",
    r"mds\..*",
    r"mon",
    r"mon\..*",
    r"osd",
    r"osd\..*",
    r"mgr",
    r"mgr\..*",
    r".*",
)


def _unescape(text: str) -> str:
    return re.sub(r"\\([;#])", r"\1", text)


def _strip_comment(text: str) -> str:
    """Cut an unquoted value at the first unescaped ``;`` or ``#``."""
    m = re.match(r"((?:\\.|[^;#])*)", text)
    return m.group(1) if m else ""


def parse(text: str) -> CephConf:
    """Read ceph.conf into ``{section: {key: value}}`` (later duplicates win)."""
    cfg: CephConf = {}
    section: str | None = None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        # join continuation lines (a trailing unescaped backslash)
        while re.search(r"(?<!\\)\\$", line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip()
            i += 1
        if re.match(r"^\s*[;#]", line) or not line.strip():
            continue
        stripped = line.strip()
        if stripped.startswith("["):
            m = re.match(r"^\[((?:\\.|[^\];#])+)\]\s*(?:[;#].*)?$", stripped)
            section = _unescape(m.group(1)).strip() if m else None
            if section is not None:
                cfg.setdefault(section, {})
            continue
        if section is None:
            continue  # PVE: "no section header - skip"
        m = re.match(r"^((?:\\.|[^=\[;#])+)=\s*(.*)$", stripped)
        if not m:
            continue  # PVE: "expected '=' after key - skip"
        key = re.sub(r"\s+", " ", m.group(1).strip()).replace(" ", "_")
        key = _unescape(key)
        rest = m.group(2)
        quoted = re.match(r"""^(['"])((?:\\.|(?!\1)[^;#])*)\1\s*(?:[;#].*)?$""", rest)
        if quoted:
            value = quoted.group(2)
        elif rest[:1] in ("'", '"'):
            continue  # PVE: "failed to parse quoted value - skip"
        else:
            value = _strip_comment(rest).rstrip()
        if not key or value == "":
            continue
        cfg[section][key] = _unescape(value)
    return cfg


def write(cfg: Mapping[str, Mapping[str, str]]) -> str:
    """Write ceph.conf in PVE's section and key order (see the module docstring)."""
    written: set[str] = set()
    out: list[str] = []
    for pattern in _SECTION_ORDER:
        for name in sorted(cfg):
            if name in written or not re.fullmatch(pattern, name):
                continue
            out.append(f"[{name}]\n")
            for key in sorted(cfg[name]):
                out.append(f"\t{key} = {cfg[name][key]}\n")
            out.append("\n")
            written.add(name)
    return re.sub(r"(?<!\\)([;#])", r"\\\1", "".join(out))


def pveceph_init(
    cfg: Mapping[str, Mapping[str, str]],
    *,
    fsid: str,
    network: str | None = None,
    cluster_network: str | None = None,
    size: int = 3,
    min_size: int = 2,
    disable_cephx: bool = False,
) -> CephConf:
    """What ``pveceph init`` does to ceph.conf; returns a new dict.

    An existing ``[global]`` is kept (fsid, auth and pool defaults are not touched), but the
    networks and the ``[client]`` keyring are still (re)set, like PVE does.
    """
    out: CephConf = {name: dict(values) for name, values in cfg.items()}
    auth = "none" if disable_cephx else "cephx"
    if "global" not in out:
        out["global"] = {
            "fsid": fsid,
            "auth_cluster_required": auth,
            "auth_service_required": auth,
            "auth_client_required": auth,
            "osd_pool_default_size": str(size),
            "osd_pool_default_min_size": str(min_size),
            "mon_allow_pool_delete": "true",
        }
    if auth == "cephx":
        out.setdefault("client", {})["keyring"] = "/etc/pve/priv/$cluster.$name.keyring"
    if network:
        out["global"]["public_network"] = network
        out["global"]["cluster_network"] = network
    if cluster_network:
        out["global"]["cluster_network"] = cluster_network
    return out


def _is_ipv6(ip: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(ip), ipaddress.IPv6Address)
    except ValueError:
        return False


def add_monitor(
    cfg: Mapping[str, Mapping[str, str]],
    monid: str,
    ips: Sequence[str],
    *,
    known_monitors: Mapping[str, str] | None = None,
) -> CephConf:
    """The ceph.conf edits of ``pveceph mon create``; returns a new dict.

    ``known_monitors`` (mon id -> address) are the monitors the cluster already runs; ``None``
    or empty means this is the first monitor, which also sets ``ms_bind_*`` for the address
    family and adds the ``[client.crash]`` keyring. ``mon_host`` gets the new IPs appended
    (PVE's string building leaves a leading space on the very first entry, which the writer
    shows as ``mon_host =  10.0.0.1``).
    """
    out: CephConf = {name: dict(values) for name, values in cfg.items()}
    glob = out.setdefault("global", {})
    first = not known_monitors and "mon_host" not in glob
    first_address = first
    for ip in ips:
        if _is_ipv6(ip):
            glob["ms_bind_ipv6"] = "true"
            if first_address:
                glob["ms_bind_ipv4"] = "false"
        else:
            glob["ms_bind_ipv4"] = "true"
            if first_address:
                glob["ms_bind_ipv6"] = "false"
        first_address = False
    monhost = glob.get("mon_host", "")
    if "mon_host" not in glob:
        for name in sorted(known_monitors or {}):
            monhost += " " + (known_monitors or {})[name]
    monhost += " " + " ".join(ips)
    glob["mon_host"] = monhost
    out[f"mon.{monid}"] = {**out.get(f"mon.{monid}", {}), "public_addr": ips[0]}
    if first:
        out.setdefault("client.crash", {})["keyring"] = "/etc/pve/ceph/$cluster.$name.keyring"
    return out


def remove_monitor(cfg: Mapping[str, Mapping[str, str]], monid: str, addr: str) -> CephConf:
    """The ceph.conf edits of ``pveceph mon destroy``: drop ``[mon.<id>]`` and the address
    (alone, with a port, or inside a ``[v2:...,v1:...]`` vector) from ``mon_host``."""
    out: CephConf = {name: dict(values) for name, values in cfg.items() if name != f"mon.{monid}"}
    glob = out.get("global")
    if glob is None or "mon_host" not in glob:
        return out
    host = addr.strip("[]")
    wrapped = f"[{host}]" if _is_ipv6(host) else host
    monhost = glob["mon_host"]
    vec = rf"v\d+:{re.escape(wrapped)}:\d+(?:/\d+)?"
    monhost = re.sub(rf"(^|[ ,;]*)\[{vec}(?:,{vec})*\](?:[ ,;]+|$)", r"\1", monhost, count=1)
    monhost = re.sub(rf"(^|[ ,;]+){re.escape(wrapped)}(?::\d+)?(?:[ ,;]+|$)", r"\1", monhost, count=1)
    if _is_ipv6(host):
        monhost = re.sub(rf"(^|[ ,;]+){re.escape(host)}(?:[ ,;]+|$)", r"\1", monhost, count=1)
    glob["mon_host"] = re.sub(r"[ ,;]+$", "", monhost)
    return out
