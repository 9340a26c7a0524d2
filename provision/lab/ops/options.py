"""``/cluster/options``: datacenter.cfg through the API (pve-manager ``PVE/API2/Cluster.pm``
get_options/set_options, format from pve-cluster ``PVE/DataCenterConfig.pm``).

GET returns the parsed file: property-string options (``crs``, ``ha``, ``migration``...)
as objects, plus ``allowed-tags``. PUT sets the given options and removes those in
``delete``, under the file's lock and only with quorum (a pmxcfs write).
"""

from __future__ import annotations

from typing import Any

from provision.lab.files import DATACENTER, parse_datacenter
from provision.lab.formats import datacenter
from provision.lab.ops.common import require_quorum
from provision.lab.registry import Ctx, p_str, param_error, route

#: The options the lab checks value by value (pve-cluster 8.1.0 and 9.0.7 agree on them;
#: ``crs: ha=dynamic`` and the auto-rebalance keys came with pve-cluster 9.1).
_ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "crs": {"ha": ("basic", "static"), "ha-rebalance-on-start": ("0", "1")},
    "ha": {"shutdown_policy": ("freeze", "failover", "conditional", "migrate")},
    "migration": {"type": ("secure", "insecure")},
}
_PLAIN = frozenset({"console", "description", "email_from", "fencing", "http_proxy", "keyboard", "language",
                    "mac_prefix", "max_workers", "registered-tags"})


@route("GET", "/cluster/options")
def get_options(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(parse_datacenter(ctx.store.get_file(DATACENTER)))
    out["allowed-tags"] = []
    return out


def _check(key: str, value: str) -> dict[str, str] | str:
    if key in _PLAIN:
        return value
    if key not in datacenter.PROPERTY_STRING_KEYS:
        raise param_error(key, "property is not defined in schema and the schema does not allow additional "
                          "properties")
    try:
        parsed = datacenter.parse_property_string(value, datacenter.DEFAULT_KEYS.get(key))
    except datacenter.DatacenterError as exc:
        raise param_error(key, f"invalid format - {exc}") from None
    for sub, sub_value in parsed.items():
        allowed = _ENUMS.get(key, {})
        if key in _ENUMS and sub not in allowed:
            raise param_error(key, f"invalid format - {sub}: property is not defined in schema and the schema "
                              "does not allow additional properties")
        if sub in allowed and sub_value not in allowed[sub]:
            raise param_error(key, f"invalid format - {sub}: value '{sub_value}' does not have a value in the "
                              f"enumeration '{', '.join(allowed[sub])}'")
    return parsed


@route("PUT", "/cluster/options")
def set_options(ctx: Ctx, params: dict[str, Any]) -> None:
    delete = [k.strip() for k in (p_str(params, "delete") or "").replace(";", ",").split(",") if k.strip()]
    changes = {k: _check(k, str(v)) for k, v in params.items() if k not in ("delete", "digest")}
    with ctx.store.tx():
        require_quorum(ctx)
        conf = parse_datacenter(ctx.store.get_file(DATACENTER))
        conf.update(changes)
        for key in delete:
            conf.pop(key, None)
        ctx.store.put_file(DATACENTER, datacenter.write(conf))
