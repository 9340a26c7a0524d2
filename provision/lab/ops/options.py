"""``/cluster/options``: datacenter.cfg through the API (pve-manager ``PVE/API2/Cluster.pm``
get_options/set_options, format from pve-cluster ``PVE/DataCenterConfig.pm``).

GET returns the parsed file: property-string options (``crs``, ``ha``, ``migration``,
``next-id``...) as objects whose boolean keys are the numbers 1/0 and other keys text
(``options_schema.as_read``), ``bwlimit`` as the text it holds (the reader leaves it alone),
plus ``allowed-tags``. PUT checks every value against the datacenter schema as pve-common's
``JSONSchema.pm`` does (400 "Parameter verification failed." with one error per option),
then sets the given options and removes those in ``delete``, under the file's lock and only
with quorum (a pmxcfs write). The schema checks live in ``provision.lab.ops.options_schema``.
"""

from __future__ import annotations

from typing import Any

from provision.lab.files import DATACENTER, parse_datacenter
from provision.lab.formats import datacenter
from provision.lab.ops.common import require_quorum
from provision.lab.ops.options_schema import as_read, check_option
from provision.lab.registry import ApiError, Ctx, p_str, route

#: options PVE's reader returns as written, not parsed (DataCenterConfig.pm
#: parse_datacenter_config parses crs, migration, replication, next-id, ha, notify, u2f,
#: webauthn, tag-style and user-tag-access only)
_UNPARSED = ("bwlimit",)


@route("GET", "/cluster/options")
def get_options(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: as_read(k, v) for k, v in parse_datacenter(ctx.store.get_file(DATACENTER)).items()}
    for key in _UNPARSED:
        if isinstance(out.get(key), dict):
            out[key] = datacenter.format_property_string(out[key])
    out["allowed-tags"] = []
    return out


def _next_id_bounds(value: Any) -> None:
    """write_datacenter_config dies (a 500, not a parameter error) when lower > upper."""
    if not isinstance(value, dict):
        return
    lower, upper = int(value.get("lower", 100)), int(value.get("upper", 1_000_000))
    if lower > upper:
        raise ApiError(500, f"lower ({lower}) <= upper ({upper}) boundary rule broken")


@route("PUT", "/cluster/options")
def set_options(ctx: Ctx, params: dict[str, Any]) -> None:
    delete = [k.strip() for k in (p_str(params, "delete") or "").replace(";", ",").split(",") if k.strip()]
    changes = {k: check_option(k, str(v)) for k, v in params.items() if k not in ("delete", "digest")}
    with ctx.store.tx():
        require_quorum(ctx)
        conf = parse_datacenter(ctx.store.get_file(DATACENTER))
        conf.update(changes)
        for key in delete:
            conf.pop(key, None)
        _next_id_bounds(conf.get("next-id"))
        ctx.store.put_file(DATACENTER, datacenter.write(conf))
