"""Write an observed `Cluster` as a stack file (`provision import`).

The stack is written so that loading it and planning against the same cluster
gives zero changes: values equal to the spec's default are left out (and listed
in a `# defaults: ...` comment where the default is a real setting rather than
"unset"), link addresses the spec derives from interfaces are left out, and
secrets the API never returns become environment-variable references with a
comment saying what to set.
"""

from __future__ import annotations

import io
import ipaddress
import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from pydantic import AnyUrl, BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from provision.spec.cluster import Cluster
from provision.spec.connection import Connection
from provision.spec.network import Bond, Nic, Vlan
from provision.spec.secrets import SecretRef, own_credential


def _worth_naming(default: Any) -> bool:
    """Defaults worth a comment: real settings, not unset/empty/boolean ones."""
    if default is None or isinstance(default, bool):
        return False
    return default not in ([], {}, "")


def _value(value: Any) -> Any:
    if isinstance(value, SecretRef):
        return CommentedMap(value.model_dump(mode="json", exclude_none=True))
    if isinstance(value, BaseModel):
        return _model(value)
    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[str(k)] = _value(v)
        if all(not isinstance(v, (dict, list, BaseModel)) for v in value.values()):
            out.fa.set_flow_style()
        return out
    if isinstance(value, (list, tuple)):
        seq = CommentedSeq([_value(v) for v in value])
        if all(isinstance(v, (str, int, float)) for v in value):
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv4Network, ipaddress.IPv4Interface,
                          ipaddress.IPv6Address, ipaddress.IPv6Interface, AnyUrl, PurePath)):
        return str(value)  # a YAML emitter represents only plain types
    if isinstance(value, str) and value.lower() in ("on", "off", "yes", "no", "y", "n", "true", "false"):
        return DoubleQuotedScalarString(value)  # YAML 1.1 readers would take these for booleans
    if isinstance(value, str) and re.fullmatch(r"\d+(:\d+)+", value):
        return DoubleQuotedScalarString(value)  # ...and these (a schedule like 21:30) for base-60 numbers
    return value


def _fields(model: BaseModel, *, drop: tuple[str, ...] = (),
            first: tuple[str, ...] = ("name",)) -> tuple[CommentedMap, list[str]]:
    """Non-default fields in declaration order (discriminator `type` always kept), and
    the real-valued defaults that were left out. A nested model's defaults are noted on
    the key that holds it (`ha:  # defaults: crs=basic`), never on its first field,
    which would read as if they belonged to that field."""
    out = CommentedMap()
    defaults: list[str] = []
    fields = type(model).model_fields
    order = [f for f in first if f in fields] + [f for f in fields if f not in first]
    for name in order:
        if name in drop:
            continue
        info = fields[name]
        value = getattr(model, name)
        default = info.get_default(call_default_factory=True) if not info.is_required() else object()
        if name != "type" and not info.is_required() and _same(value, default):
            if _worth_naming(default) and not isinstance(default, BaseModel):
                defaults.append(f"{name}={_plain(default)}")
            continue
        if isinstance(value, BaseModel) and not isinstance(value, SecretRef):
            _put(out, name, value)
        else:
            out[name] = _value(value)
    return out, defaults


def _note(defaults: list[str]) -> str:
    return "defaults: " + ", ".join(defaults)


def _put(parent: CommentedMap, key: str, model: BaseModel, **kwargs: Any) -> CommentedMap:
    """`parent[key]` = the model, with its left-out defaults noted on `key`."""
    out, defaults = _fields(model, **kwargs)
    parent[key] = out
    if defaults:
        parent.yaml_add_eol_comment(_note(defaults), key)
    return out


def _model(model: BaseModel, *, drop: tuple[str, ...] = (), first: tuple[str, ...] = ("name",),
           comments: bool = True) -> CommentedMap:
    """A sequence item (a node, a storage, an HA group): its left-out defaults are noted
    on its first line, the one that starts the item."""
    out, defaults = _fields(model, drop=drop, first=first)
    if comments and defaults and out:
        out.yaml_add_eol_comment(_note(defaults), next(iter(out)))
    return out


def _same(value: Any, default: Any) -> bool:
    if isinstance(value, BaseModel) and isinstance(default, BaseModel):
        return value.model_dump() == default.model_dump()
    try:
        return bool(value == default)
    except Exception:  # pragma: no cover - exotic types
        return False


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _links(cluster: Cluster) -> CommentedSeq:
    """Links, with per-node addresses only where the spec could not derive them."""
    seq = CommentedSeq()
    for link in sorted(cluster.corosync.links, key=lambda k: k.number):
        item = _model(link, drop=("addresses",), first=("number",))
        explicit = CommentedMap()
        for node in cluster.nodes:
            addr = link.addresses.get(node.name)
            if addr is None:
                continue
            derived = next((i.address.ip for i in node.interfaces
                            if i.address is not None and i.address.ip in link.network), None)
            if derived != addr:
                explicit[node.name] = str(addr)
        if explicit:
            explicit.fa.set_flow_style()
            item["addresses"] = explicit
        seq.append(item)
    return seq


SecretNames = Mapping[tuple[str, str], SecretRef]
"""(storage name, field) -> the reference an earlier stack file used for that secret."""

_SECRET_FIELDS = ("password", "keyring", "secret", "encryption_key")


def secret_names(stack: Cluster) -> dict[tuple[str, str], SecretRef]:
    """The secret references of a stack, for a re-import that must keep them: the
    variables (or files) a deployment already provides are not renamed under it."""
    out: dict[tuple[str, str], SecretRef] = {}
    for storage in stack.storage:
        for name in _SECRET_FIELDS:
            ref = getattr(storage, name, None)
            if isinstance(ref, SecretRef):
                out[(storage.name, name)] = ref
    for target in stack.notifications.targets if stack.notifications else []:
        for name in ("password", "token"):
            ref = getattr(target, name, None)
            if isinstance(ref, SecretRef):
                out[(f"notifications.target:{target.name}", name)] = ref
        for key, ref in getattr(target, "secrets", {}).items():
            out[(f"notifications.target:{target.name}", f"secret_{key}")] = ref
    return out


def put_secret_ref(entry: CommentedMap, field: str, ref: SecretRef, taken: set[str]) -> None:
    """Write ``ref`` as ``entry[field]`` with a comment saying where the secret must come
    from (the API never returns it), and reserve its variable name in ``taken``."""
    entry[field] = _value(ref)
    if ref.env:
        taken.add(ref.env)
    what = f"set {ref.env}" if ref.env else f"put it in {ref.file}"
    entry.yaml_add_eol_comment(f"{what}: the API never returns secrets", field)


def _secret_ref(storage: str, field: str, keep: SecretNames, taken: set[str], *, base: str | None = None
                ) -> SecretRef:
    """The reference to write: the earlier stack's, else an environment variable named
    after the storage and field, unique in the file (`pbs.backup` and `pbs-backup`
    must not share one) and never one of pve-provision's own."""
    if (storage, field) in keep:
        return keep[(storage, field)]
    base = f"{(base or storage).upper().replace('-', '_').replace('.', '_')}_{field.upper()}"
    if own_credential(base):  # a storage named `provision-...` must still validate
        base = f"STORAGE_{base}"
    var, n = base, 2
    while var in taken:
        var, n = f"{base}_{n}", n + 1
    return SecretRef(env=var)


def to_stack(cluster: Cluster, connection: Connection, *, source: str = "", keep_secrets: SecretNames | None = None
             ) -> str:
    """Render the stack YAML text. `keep_secrets`: references to reuse (a re-import)."""
    keep = keep_secrets or {}
    taken = {ref.env for ref in keep.values() if ref.env}
    root = CommentedMap()
    root["name"] = cluster.name
    root["pve_version"] = cluster.pve_version
    _put(root, "connection", connection)
    nodes = CommentedSeq()
    for node in cluster.nodes:
        item = _model(node, drop=("interfaces", "ssh"))
        if "capacity" in item:  # what-if plans with it; discovery reads it from the node
            item["capacity"].fa.set_flow_style()
        if node.interfaces:
            ifaces = CommentedSeq()
            slaves = {s for i in node.interfaces if isinstance(i, Bond) for s in i.slaves}
            for iface in node.interfaces:
                entry = _model(iface, first=("name", "type"), comments=False)
                # Leave out what the spec derives by itself (Cluster._normalise, Vlan):
                # autostart as Proxmox writes it, parent and tag of a PARENT.TAG VLAN.
                derived_auto = not isinstance(iface, Nic) or iface.name in slaves or iface.address is not None
                if entry.get("autostart") == derived_auto:
                    del entry["autostart"]
                if isinstance(iface, Vlan) and iface.name == f"{iface.raw_device}.{iface.tag}":
                    entry.pop("raw_device", None)
                    entry.pop("tag", None)
                ifaces.append(entry)
            item["interfaces"] = ifaces
        nodes.append(item)
    root["nodes"] = nodes
    coro = _put(root, "corosync", cluster.corosync, drop=("links",))
    coro.insert(0, "links", _links(cluster))
    if cluster.quorum.qdevice is not None:
        root["quorum"] = CommentedMap()
        _put(root["quorum"], "qdevice", cluster.quorum.qdevice, first=("host",))
    if cluster.ceph is not None:
        ceph = _put(root, "ceph", cluster.ceph, first=("public_network",))
        if "osds" in ceph:
            ceph["osds"] = CommentedSeq([_model(o, first=("node", "device"), comments=False)
                                         for o in cluster.ceph.osds])
    if cluster.storage:
        storages = CommentedSeq()
        for storage in cluster.storage:
            entry = _model(storage, first=("name", "type"))
            for field in _SECRET_FIELDS:
                if field in type(storage).model_fields and type(storage).model_fields[field].is_required():
                    put_secret_ref(entry, field, _secret_ref(storage.name, field, keep, taken), taken)
            storages.append(entry)
        root["storage"] = storages
    ha, ha_defaults = _fields(cluster.ha)
    if ha:
        root["ha"] = ha
        if ha_defaults:
            root.yaml_add_eol_comment(_note(ha_defaults), "ha")
    if "auto_rebalance" in root.get("ha", {}):
        root["ha"]["auto_rebalance"].fa.set_flow_style()
    if not cluster.datacenter.empty:
        dc = _put(root, "datacenter", cluster.datacenter)
        for key in ("migration", "bwlimit", "next_id"):
            if key in dc:
                dc[key].fa.set_flow_style()
    from provision.discover.export_alerts import alerts_to_stack  # it builds on this module's helpers

    alerts_to_stack(cluster, root, keep, taken)
    if cluster.guests:
        root["guests"] = CommentedSeq([_model(g, first=("sid",), comments=False) for g in cluster.guests])
        for guest in root["guests"]:
            guest.fa.set_flow_style()
    for items in (root["nodes"],):
        for node in items:
            for iface in node.get("interfaces", []):
                iface.fa.set_flow_style()
    if cluster.ceph is not None:
        for osd in root["ceph"].get("osds", []):
            osd.fa.set_flow_style()
    yaml = YAML(typ="rt")
    yaml.width = 120
    yaml.indent(mapping=2, sequence=4, offset=2)
    buf = io.StringIO()
    header = f"# Imported by `provision import`{' from ' + source if source else ''}.\n" \
             "# Plan against the same cluster gives zero changes; edit it to make changes.\n"
    buf.write(header)
    yaml.dump(root, buf)
    return buf.getvalue()
