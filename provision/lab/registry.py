"""The handler registry shared by the REST API and the node CLIs.

PVE's CLIs (pvesh, pvecm, pveceph, ha-manager) call the same Perl API handlers the HTTP
server does; the lab mirrors that: ``(method, path template) -> handler(ctx, params)``.
Handlers raise ``ApiError`` with PVE's messages; each front end renders it its own way
(HTTP status + ``message``/``errors`` envelope, or stderr + exit code).
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from provision.lab.hardware import PVE_CLUSTER_RELEASES
from provision.lab.paths import LabPaths
from provision.lab.store import Store


class ApiError(Exception):
    """An error as PVE reports it: HTTP status, message, optional per-parameter errors."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def param_error(name: str, message: str) -> ApiError:
    """PVE's shape for a schema violation: 400 'Parameter verification failed.' + errors."""
    return ApiError(400, "Parameter verification failed.", {name: message})


NO_QUORUM = "cluster not ready - no quorum?"


@dataclass
class Reply:
    """A result with extra top-level envelope keys (``changes`` on the network index, ``total``)."""

    data: Any
    extra: dict[str, Any] = field(default_factory=dict)


def unwrap(result: Any) -> tuple[Any, dict[str, Any]]:
    if isinstance(result, Reply):
        return result.data, result.extra
    return result, {}


@dataclass
class Ctx:
    """Who is calling and as which node; handlers read and write the store through it."""

    store: Store
    paths: LabPaths
    node: str
    user: str = "root@pam"

    @cached_property
    def pve_version(self) -> int:
        """Read once per call: handlers ask for it per object (it is fixed at `lab up`)."""
        return int(self.store.get_meta("pve_version", 8))


Handler = Callable[[Ctx, dict[str, Any]], Any]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    write: bool
    pve: tuple[int, ...]

    @property
    def prefix(self) -> str:
        """The template's literal start: a path that does not start so cannot match."""
        return self.template.split("{", 1)[0]

    @property
    def regex(self) -> re.Pattern[str]:
        return _regex(self.template)


@functools.cache
def _regex(template: str) -> re.Pattern[str]:
    """Compiled when a path is first matched against it, not at import: compiling every
    route's pattern was a tenth of a node CLI's CPU."""
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "/?$")


_ROUTES: list[Route] = []


def route(method: str, template: str, *, pve: tuple[int, ...] = (8, 9)) -> Callable[[Handler], Handler]:
    """Register a handler; ``pve`` limits it to the PVE major versions that have the endpoint."""

    def deco(fn: Handler) -> Handler:
        _ROUTES.append(Route(method, template, fn, method != "GET", pve))
        return fn

    return deco


def resolve(method: str, path: str, pve: int) -> tuple[Route, dict[str, str]]:
    """Find the handler for ``method path``; 501 like PVE when nothing matches.

    The routes registered so far are tried first (a node CLI imports only the handler
    modules it calls); only a path none of them answers loads every module. That finds
    the same handler as loading all first because no two routes answer one request
    (tests/lab/test_registry_routes.py)."""
    path = "/" + path.strip("/")
    found = _match(method, path, pve)
    if found is None and not _loaded:
        _load_ops()
        found = _match(method, path, pve)
    if found is None:
        raise ApiError(501, f"Method '{method} {path}' not implemented")
    return found


def _match(method: str, path: str, pve: int) -> tuple[Route, dict[str, str]] | None:
    for r in list(_ROUTES):
        if r.method != method or pve not in r.pve or not path.startswith(r.prefix):
            continue
        m = r.regex.match(path)
        if m:
            return r, m.groupdict()
    return None


def call(ctx: Ctx, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
    """Run a handler in-process (what the node CLIs do)."""
    r, path_params = resolve(method, path, ctx.pve_version)
    merged: dict[str, Any] = dict(params or {})
    merged.update(path_params)
    check_params(r, merged, ctx.pve_version)
    return r.handler(ctx, merged)


#: Parameter names of write endpoints whose option spellings automation depends on
#: (pve-docs ``api-viewer/apidata.js``, PVE 9). ``link[n]`` stands for ``link0``..``link7``.
#: PVE's schemas do not allow additional properties, so a misspelt option is an error.
SCHEMA_PARAMS: dict[tuple[str, str], frozenset[str]] = {
    (m, t): frozenset(names.split()) for m, t, names in (
        ("POST", "/cluster/config", "clustername link[n] nodeid token-coefficient votes"),
        ("POST", "/cluster/config/nodes/{node}", "apiversion force link[n] new_node_ip node nodeid votes"),
        ("DELETE", "/cluster/config/nodes/{node}", "node"),
        ("POST", "/cluster/config/join", "fingerprint force hostname link[n] nodeid password votes"),
        ("POST", "/cluster/ha/resources", "comment failback group max_relocate max_restart sid state type"),
        ("PUT", "/cluster/ha/resources/{sid}",
         "comment delete digest failback group max_relocate max_restart sid state"),
        ("DELETE", "/cluster/ha/resources/{sid}", "purge sid"),
        ("POST", "/cluster/ha/resources/{sid}/migrate", "node sid"),
        ("POST", "/cluster/ha/resources/{sid}/relocate", "node sid"),
        ("POST", "/cluster/ha/groups", "comment group nodes nofailback restricted type"),
        ("PUT", "/cluster/ha/groups/{group}", "comment delete digest group nodes nofailback restricted"),
        ("DELETE", "/cluster/ha/groups/{group}", "group"),
        ("POST", "/cluster/ha/rules", "affinity comment disable nodes resources rule strict type"),
        ("PUT", "/cluster/ha/rules/{rule}",
         "affinity comment delete digest disable nodes resources rule strict type"),
        ("DELETE", "/cluster/ha/rules/{rule}", "rule"),
        ("POST", "/nodes/{node}/ceph/init", "cluster-network disable_cephx min_size network node pg_bits size"),
        ("POST", "/nodes/{node}/ceph/mon/{monid}", "mon-address monid node"),
        ("DELETE", "/nodes/{node}/ceph/mon/{monid}", "monid node"),
        ("POST", "/nodes/{node}/ceph/mgr/{id}", "id node"),
        ("DELETE", "/nodes/{node}/ceph/mgr/{id}", "id node"),
        ("POST", "/nodes/{node}/ceph/mds/{name}", "hotstandby name node"),
        ("DELETE", "/nodes/{node}/ceph/mds/{name}", "name node"),
        ("POST", "/nodes/{node}/ceph/osd",
         "crush-device-class db_dev db_dev_size dev encrypted node osds-per-device wal_dev wal_dev_size"),
        ("DELETE", "/nodes/{node}/ceph/osd/{osdid}", "cleanup node osdid"),
        ("POST", "/nodes/{node}/ceph/osd/{osdid}/in", "node osdid"),
        ("POST", "/nodes/{node}/ceph/osd/{osdid}/out", "node osdid"),
        ("POST", "/nodes/{node}/ceph/pool",
         "add_storages application crush_rule erasure-coding min_size name node pg_autoscale_mode pg_num "
         "pg_num_min size target_size target_size_ratio"),
        ("PUT", "/nodes/{node}/ceph/pool/{name}",
         "application crush_rule min_size name node pg_autoscale_mode pg_num pg_num_min size target_size "
         "target_size_ratio"),
        ("DELETE", "/nodes/{node}/ceph/pool/{name}", "force name node remove_ecprofile remove_storages"),
        ("POST", "/nodes/{node}/ceph/fs/{name}", "add-storage name node pg_num"),
    )
}
#: PVE 8 (ha-manager 4.x) has neither resource ``failback`` nor delete ``purge``.
_PVE8_ABSENT = frozenset({"failback", "purge"})
#: pve-cluster a7b1c76 (9.1.0) added ``token-coefficient`` to ``POST /cluster/config``.
_BEFORE_CLUSTER_9_1 = frozenset({"token-coefficient"})


def check_params(r: Route, params: dict[str, Any], pve: int) -> None:
    """Reject parameters the endpoint's schema does not define (400, like PVE)."""
    allowed = SCHEMA_PARAMS.get((r.method, r.template))
    if allowed is None:
        return
    if pve < 9 and r.template.startswith("/cluster/ha/resources"):
        allowed = allowed - _PVE8_ABSENT
    if PVE_CLUSTER_RELEASES.get(pve, (0,)) < (9, 1, 0):
        allowed = allowed - _BEFORE_CLUSTER_9_1
    for name in sorted(params):
        if name in allowed or ("link[n]" in allowed and re.fullmatch(r"link[0-7]", name)):
            continue
        raise param_error(name, "property is not defined in schema and the schema does not allow additional "
                          "properties")


def routes() -> list[Route]:
    _load_ops()
    return list(_ROUTES)


_loaded = False
_load_lock = threading.Lock()


def _load_ops() -> None:
    """Import the handler modules once. The flag is set only after the import has
    finished, under a lock: concurrent first requests on a fresh server must not see
    a half-filled route table (they used to get 501)."""
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if not _loaded:
            from provision.lab.ops import load_all

            load_all()
            _loaded = True


# --- parameter helpers: PVE passes everything as strings ----------------------------------


def p_str(params: dict[str, Any], name: str, default: str | None = None, *, required: bool = False) -> str | None:
    v = params.get(name)
    if v is None or v == "":
        if required:
            raise param_error(name, "property is missing and it is not optional")
        return default
    return str(v)


def p_req(params: dict[str, Any], name: str) -> str:
    v = p_str(params, name, required=True)
    assert v is not None
    return v


def p_int(
    params: dict[str, Any], name: str, default: int | None = None, *, lo: int | None = None, hi: int | None = None
) -> int | None:
    v = params.get(name)
    if v is None or v == "":
        return default
    try:
        n = int(str(v))
    except ValueError:
        raise param_error(name, f"type check ('integer') failed - got '{v}'") from None
    if lo is not None and n < lo:
        raise param_error(name, f"value must have a minimum value of {lo}")
    if hi is not None and n > hi:
        raise param_error(name, f"value may have a maximum value of {hi}")
    return n


def p_bool(params: dict[str, Any], name: str, default: bool | None = None) -> bool | None:
    v = params.get(name)
    if v is None or v == "":
        return default
    s = str(v).lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise param_error(name, f"type check ('boolean') failed - got '{v}'")


def p_enum(params: dict[str, Any], name: str, values: tuple[str, ...], default: str | None = None) -> str | None:
    v = p_str(params, name, default)
    if v is not None and v not in values:
        raise param_error(name, f"value '{v}' does not have a value in the enumeration '{', '.join(values)}'")
    return v


def now() -> float:
    return time.time()
