"""`/cluster/notifications/...`: notification targets and matchers (PVE >= 8.1).

pve-manager `PVE/API2/Cluster/Notifications.pm` hands every call to the Rust crate
`proxmox-notify` (proxmox-rs `proxmox-notify/src/api/*.rs`), which keeps public
properties in `/etc/pve/notifications.cfg` and secrets (SMTP `password`, Gotify `token`,
webhook `secret`)
in `/etc/pve/priv/notifications.cfg`. A fresh PVE has the built-in target `mail-to-root`
and matcher `default-matcher` (`proxmox-notify/src/context/pve.rs` DEFAULT_CONFIG): they
are part of every read, `origin` says whether they are untouched (`builtin`) or edited
(`modified-builtin`). Webhook targets (PVE >= 8.3) follow `provision.lab.ops.webhook`.
The lab cites the behaviour in docs/lab-contract.md.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from provision.lab.formats.sectiontext import ARRAYS, NotifySection, parse, write
from provision.lab.ops import webhook
from provision.lab.ops.common import require_quorum
from provision.lab.registry import ApiError, Ctx, p_req, p_str, param_error, route

PUBLIC = "notifications.cfg"
PRIVATE = "priv/notifications.cfg"
BUILTIN = [
    NotifySection("sendmail", "mail-to-root", {"comment": "Send mails to root@pam's email address",
                                               "mailto-user": ["root@pam"]}),
    NotifySection("matcher", "default-matcher", {"mode": "all", "target": ["mail-to-root"],
                                                 "comment": "Route all notifications to mail-to-root"}),
]
SECRETS = {"smtp": ("password",), "gotify": ("token",), "webhook": ("secret",)}
FIELDS: dict[str, tuple[str, ...]] = {
    "sendmail": ("mailto", "mailto-user", "from-address", "author", "comment", "disable"),
    "smtp": ("server", "port", "mode", "username", "password", "mailto", "mailto-user", "from-address", "author",
             "comment", "disable"),
    "gotify": ("server", "token", "comment", "disable"),
    "webhook": ("url", "method", "header", "body", "secret", "comment", "disable"),
    "matcher": ("match-field", "match-severity", "match-calendar", "target", "mode", "invert-match", "comment",
                "disable"),
}
REQUIRED = {"smtp": ("server", "from-address"), "gotify": ("server", "token"), "webhook": ("url", "method")}
BOOLS = frozenset({"disable", "invert-match"})
ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "mode": {"smtp": ("insecure", "starttls", "tls"), "matcher": ("all", "any")},
    "method": {"webhook": ("post", "put", "get")},
}
SEVERITIES = ("info", "notice", "warning", "error", "unknown")
_ID = re.compile(r"^[a-z][a-z0-9_\-.]*[a-z0-9]$|^[a-z]$", re.IGNORECASE)


def _read(ctx: Ctx) -> tuple[list[NotifySection], list[NotifySection]]:
    """Public sections with the built-ins merged in (a built-in the file redefines is
    that definition), and the private sections."""
    public = parse(ctx.store.get_file(PUBLIC))
    names = {s.name for s in public}
    merged = [NotifySection(b.type, b.name, dict(b.props)) for b in BUILTIN if b.name not in names] + public
    return merged, parse(ctx.store.get_file(PRIVATE))


def _write(ctx: Ctx, public: list[NotifySection], private: list[NotifySection]) -> None:
    builtin = {(b.type, b.name): b.props for b in BUILTIN}
    keep = [s for s in public if builtin.get((s.type, s.name)) != s.props]
    ctx.store.put_file(PUBLIC, write(keep))
    ctx.store.put_file(PRIVATE, write([s for s in private if s.props]))


def _digest(ctx: Ctx) -> str:
    text = (ctx.store.get_file(PUBLIC) or "") + (ctx.store.get_file(PRIVATE) or "")
    return hashlib.sha256(text.encode()).hexdigest()


def _origin(s: NotifySection) -> str:
    builtin = next((b for b in BUILTIN if b.name == s.name and b.type == s.type), None)
    if builtin is None:
        return "user-created"
    return "builtin" if builtin.props == s.props else "modified-builtin"


def _api(s: NotifySection, private: list[NotifySection] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": s.name, "origin": _origin(s)}
    if s.type == "webhook":
        out.update(webhook.secret_names(_find(private or [], s.name, "webhook")))
    for key, value in s.props.items():
        if key in SECRETS.get(s.type, ()):
            continue  # never returned
        if key in BOOLS:
            out[key] = value in ("1", "true")
        elif key == "port":
            out[key] = int(str(value))
        else:
            out[key] = value
    return out


def _list(value: Any, key: str) -> list[str]:
    """An array parameter: a list, or the node CLI's comma-joined repeats. A match-field
    rule may itself hold commas (`exact:type=a,b`), so those split only before a new
    `exact:`/`regex:` rule; a webhook header or secret (`name=..,value=..`) before `name=`."""
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value)
    if key == "match-field":
        return [p for p in re.split(r",(?=(?:exact|regex):)", text) if p]
    if key in ("header", "secret"):  # property strings `name=..,value=..`, one per item
        return [p for p in re.split(r",(?=name=)", text) if p]
    return [p.strip() for p in text.split(",") if p.strip()]


def _check(kind: str, params: dict[str, Any]) -> dict[str, str | list[str]]:
    allowed = set(FIELDS[kind])
    out: dict[str, str | list[str]] = {}
    for key, value in params.items():
        if key in ("name", "delete", "digest") or value is None:
            continue
        if key not in allowed:
            raise param_error(key, "property is not defined in schema and the schema does not allow additional "
                              "properties")
        if key in ARRAYS:
            items = _list(value, key)
            if key == "match-severity":
                for sev in (x for item in items for x in item.split(",")):
                    if sev not in SEVERITIES:
                        raise ApiError(400, f"invalid severity '{sev}'")
            if key == "match-field":
                for rule in items:
                    if not re.fullmatch(r"(exact|regex):[^=]+=.*", rule):
                        raise ApiError(400, f"invalid match-field statement: {rule}")
            out[key] = items
            continue
        text = str(value)
        if key in BOOLS:
            text = "true" if text.lower() in ("1", "true", "yes", "on") else "false"
        if key in ENUMS and kind in ENUMS[key] and text not in ENUMS[key][kind]:
            raise param_error(key, f"value '{text}' does not have a value in the enumeration "
                              f"'{', '.join(ENUMS[key][kind])}'")
        if key == "port" and not text.isdigit():
            raise param_error(key, f"type check ('integer') failed - got '{text}'")
        out[key] = text
    return out


def _find(sections: list[NotifySection], name: str, kind: str | None = None) -> NotifySection | None:
    return next((s for s in sections if s.name == name and (kind is None or s.type == kind)), None)


def _targets(sections: list[NotifySection]) -> set[str]:
    return {s.name for s in sections if s.type != "matcher"}


def _create(ctx: Ctx, kind: str, params: dict[str, Any]) -> None:
    name = p_req(params, "name")
    if not _ID.match(name):
        raise param_error("name", f"invalid format - invalid configuration ID '{name}'")
    props = _check(kind, params)
    for key in REQUIRED.get(kind, ()):
        if key not in props:
            raise param_error(key, "property is missing and it is not optional")
    with ctx.store.tx():
        require_quorum(ctx)
        public, private = _read(ctx)
        if _find(public, name) is not None:
            raise ApiError(400, f"Cannot create '{name}', an entity with the same name already exists")
        _validate(kind, props, public)
        if kind == "webhook":
            webhook.check_create(props)
        secret = {k: props.pop(k) for k in SECRETS.get(kind, ()) if k in props}
        public.append(NotifySection(kind, name, props))
        private = [s for s in private if s.name != name]
        if secret:
            private.append(NotifySection(kind, name, secret))
        _write(ctx, public, private)


def _validate(kind: str, props: dict[str, str | list[str]], public: list[NotifySection]) -> None:
    if kind in ("sendmail", "smtp") and not props.get("mailto") and not props.get("mailto-user"):
        raise ApiError(400, "must at least provide one recipient, either in mailto or in mailto-user")
    if kind == "matcher":
        known = _targets(public)
        for target in props.get("target", []):
            if target not in known:
                raise ApiError(404, f"endpoint '{target}' does not exist")


def _update(ctx: Ctx, kind: str, params: dict[str, Any]) -> None:
    name = p_req(params, "name")
    props = _check(kind, params)
    delete = _list(params.get("delete") or [], "delete")
    for key in delete:
        if key not in FIELDS[kind] or key in REQUIRED.get(kind, ()):
            raise param_error("delete", f"value '{key}' does not have a value in the enumeration")
    with ctx.store.tx():
        require_quorum(ctx)
        digest = p_str(params, "digest")
        if digest and digest != _digest(ctx):
            raise ApiError(400, "detected modified configuration - file changed by other user? Try again.")
        public, private = _read(ctx)
        section = _find(public, name, kind)
        if section is None:
            what = "matcher" if kind == "matcher" else "endpoint"
            raise ApiError(404, f"{what} '{name}' not found")
        secret_keys = SECRETS.get(kind, ())
        priv = _find(private, name)
        if priv is None:
            priv = NotifySection(kind, name, {})
            private.append(priv)
        for key in delete:
            (priv if key in secret_keys else section).props.pop(key, None)
        if kind == "webhook":
            webhook.check_update(props, priv.props.get("secret", []))
        for key, value in props.items():
            (priv if key in secret_keys else section).props[key] = value
        _validate(kind, section.props, public)
        _write(ctx, public, private)


def _delete(ctx: Ctx, kind: str, params: dict[str, Any]) -> None:
    name = p_req(params, "name")
    with ctx.store.tx():
        require_quorum(ctx)
        public, private = _read(ctx)
        section = _find(public, name, kind)
        if section is None:
            what = "matcher" if kind == "matcher" else "endpoint"
            raise ApiError(404, f"{what} '{name}' not found")
        users = sorted(s.name for s in public if s.type == "matcher" and name in s.props.get("target", []))
        if users:
            raise ApiError(400, f"cannot delete '{name}', referenced by: {', '.join(users)}")
        public = [s for s in public if s is not section]
        private = [s for s in private if s.name != name]
        _write(ctx, public, private)  # a deleted built-in comes back from the defaults on the next read


def _register(kind: str, base: str) -> None:
    @route("GET", base)
    def index(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
        public, private = _read(ctx)
        return [_api(s, private) for s in public if s.type == kind]

    @route("GET", base + "/{name}")
    def get(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
        name = p_req(params, "name")
        public, private = _read(ctx)
        section = _find(public, name, kind)
        if section is None:
            what = "matcher" if kind == "matcher" else "endpoint"
            raise ApiError(404, f"{what} '{name}' not found")
        return {**_api(section, private), "digest": _digest(ctx)}

    @route("POST", base)
    def create(ctx: Ctx, params: dict[str, Any]) -> None:
        _create(ctx, kind, params)

    @route("PUT", base + "/{name}")
    def update(ctx: Ctx, params: dict[str, Any]) -> None:
        _update(ctx, kind, params)

    @route("DELETE", base + "/{name}")
    def delete(ctx: Ctx, params: dict[str, Any]) -> None:
        _delete(ctx, kind, params)


for _kind in ("sendmail", "smtp", "gotify", "webhook"):
    _register(_kind, f"/cluster/notifications/endpoints/{_kind}")
_register("matcher", "/cluster/notifications/matchers")


@route("GET", "/cluster/notifications/targets")
def targets(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": s.name, "type": s.type, "origin": _origin(s), "disable": s.props.get("disable") == "true",
             **({"comment": s.props["comment"]} if "comment" in s.props else {})}
            for s in _read(ctx)[0] if s.type != "matcher"]
