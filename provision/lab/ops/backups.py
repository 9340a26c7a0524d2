"""`/cluster/backup`: scheduled vzdump jobs, `vzdump: <id>` sections of `/etc/pve/jobs.cfg`.

pve-manager `PVE/API2/Backup.pm` (create_job/update_job/delete_job), option checks from
`PVE/VZDump.pm` verify_vzdump_parameters and the option schema of pve-guest-common
`src/PVE/VZDump/Common.pm`. PVE does not check the storage when a job is saved: a
missing storage or one without content `backup` fails when the job runs
(`PVE/VZDump.pm` storage_info), so the lab accepts it too.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from provision.lab.formats.sectiontext import NotifySection, parse, write
from provision.lab.ops import pools
from provision.lab.ops.common import require_quorum
from provision.lab.registry import ApiError, Ctx, p_req, p_str, param_error, route

JOBS = "jobs.cfg"
OPTIONS = frozenset({"schedule", "storage", "all", "vmid", "pool", "exclude", "mode", "prune-backups",
                     "notification-mode", "enabled", "comment", "node", "compress", "mailto", "mailnotification",
                     "repeat-missed", "notes-template", "protected", "bwlimit", "zstd", "ionice", "lockwait",
                     "stopwait", "maxfiles", "remove", "tmpdir", "dumpdir", "script", "stdexcludes",
                     "exclude-path", "pigz", "fleecing", "performance", "pbs-change-detection-mode"})
ENUMS = {"mode": ("snapshot", "suspend", "stop"),
         "notification-mode": ("auto", "legacy-sendmail", "notification-system")}
BOOLS = frozenset({"all", "enabled", "repeat-missed", "protected", "remove", "stdexcludes"})
PRUNE_KEYS = ("keep-all", "keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly")
_VMID_LIST = re.compile(r"^\d+(?:[,;\s]+\d+)*$")


def _read(ctx: Ctx) -> list[NotifySection]:
    return parse(ctx.store.get_file(JOBS))


def _api(s: NotifySection) -> dict[str, Any]:
    out: dict[str, Any] = {"id": s.name, "type": s.type}
    for key, value in s.props.items():
        out[key] = int(str(value)) if key in BOOLS else value
    return out


def _check(params: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        if key in ("id", "delete", "digest") or value is None:
            continue
        if key not in OPTIONS:
            raise param_error(key, "property is not defined in schema and the schema does not allow additional "
                              "properties")
        text = str(value)
        if key in BOOLS:
            text = "1" if text.lower() in ("1", "true", "yes", "on") else "0"
        if key in ENUMS and text not in ENUMS[key]:
            raise param_error(key, f"value '{text}' does not have a value in the enumeration "
                              f"'{', '.join(ENUMS[key])}'")
        if key in ("vmid", "exclude"):
            if not _VMID_LIST.match(text):
                raise param_error(key, "invalid format - value does not look like a valid VM ID list")
            text = ",".join(re.split(r"[,;\s]+", text))
        if key == "prune-backups":
            for part in (p for p in text.split(",") if p):
                name, _, number = part.partition("=")
                if name not in PRUNE_KEYS or not number.isdigit():
                    raise param_error(key, f"invalid format - {name}: property is not defined in schema")
        out[key] = text
    return out


def _pool_exists(ctx: Ctx, params: dict[str, Any]) -> None:
    """`$rpcenv->check_pool_exist` on create and update (pve-access-control
    RPCEnvironment.pm check_pool_exist: a permission exception, 403)."""
    pool = p_str(params, "pool")
    if pool and pool not in pools._read(ctx)[1]:
        raise ApiError(403, f"Permission check failed (pool '{pool}' does not exist)")


def _verify(job: dict[str, str], check_missing: bool) -> None:
    """PVE/VZDump.pm verify_vzdump_parameters."""
    for other in ("all", "exclude", "pool"):
        if job.get(other) not in (None, "0") and job.get("vmid"):
            raise param_error(other, "option conflicts with option 'vmid'")
    if job.get("exclude") and not job.get("pool"):
        job["all"] = "1"
    if check_missing and job.get("all") != "1" and not job.get("pool") and not job.get("vmid"):
        raise param_error("vmid", "property is missing")


@route("GET", "/cluster/backup")
def index(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [_api(s) for s in _read(ctx) if s.type == "vzdump"]


@route("GET", "/cluster/backup/{id}")
def get(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    jid = p_req(params, "id")
    job = next((s for s in _read(ctx) if s.type == "vzdump" and s.name == jid), None)
    if job is None:
        raise param_error("id", f"No such job '{jid}'")
    return _api(job)


@route("POST", "/cluster/backup")
def create(ctx: Ctx, params: dict[str, Any]) -> None:
    jid = p_str(params, "id") or str(uuid.uuid4())
    if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_\-.]*", jid):
        raise param_error("id", f"invalid format - invalid configuration ID '{jid}'")
    job = _check(params)
    _pool_exists(ctx, params)
    if "schedule" not in job:
        raise param_error("schedule", "neither 'starttime' nor 'schedule' were set")
    job.setdefault("enabled", "1")
    _verify(job, True)
    with ctx.store.tx():
        require_quorum(ctx)
        jobs = _read(ctx)
        if any(s.name == jid for s in jobs):
            raise ApiError(500, f"Job '{jid}' already exists")
        jobs.append(NotifySection("vzdump", jid, dict(job)))
        ctx.store.put_file(JOBS, write(jobs))


@route("PUT", "/cluster/backup/{id}")
def update(ctx: Ctx, params: dict[str, Any]) -> None:
    jid = p_req(params, "id")
    changes = _check(params)
    _pool_exists(ctx, params)
    delete = [k.strip() for k in re.split(r"[,;\s]+", p_str(params, "delete") or "") if k.strip()]
    if not changes and not delete:
        raise ApiError(500, "no options specified")
    _verify(dict(changes), False)
    with ctx.store.tx():
        require_quorum(ctx)
        jobs = _read(ctx)
        section = next((s for s in jobs if s.type == "vzdump" and s.name == jid), None)
        if section is None:
            raise ApiError(500, "no such vzdump job")
        job = {k: str(v) for k, v in section.props.items()}
        for key in delete:
            if key not in OPTIONS:
                raise param_error("delete", f"unknown option '{key}'")
            job.pop(key, None)
        job.update(changes)
        if job.get("exclude") and not job.get("pool"):
            job["all"] = "1"
        if "vmid" in changes:
            for key in ("all", "exclude", "pool"):
                job.pop(key, None)
        elif changes.get("all") == "1":
            job.pop("vmid", None)
            job.pop("pool", None)
        elif job.get("pool"):
            for key in ("vmid", "all", "exclude"):
                job.pop(key, None)
        _verify(job, True)
        section.props = dict(job)
        ctx.store.put_file(JOBS, write(jobs))


@route("DELETE", "/cluster/backup/{id}")
def delete(ctx: Ctx, params: dict[str, Any]) -> None:
    jid = p_req(params, "id")
    with ctx.store.tx():
        require_quorum(ctx)
        jobs = _read(ctx)
        if not any(s.type == "vzdump" and s.name == jid for s in jobs):
            raise param_error("id", f"No such job '{jid}'")
        ctx.store.put_file(JOBS, write([s for s in jobs if not (s.type == "vzdump" and s.name == jid)]))
