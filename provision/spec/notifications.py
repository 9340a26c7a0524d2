"""Notification targets and matchers (PVE >= 8.1, `/cluster/notifications`).

PVE keeps them in `/etc/pve/notifications.cfg` with the secrets (SMTP password, Gotify
token, webhook secrets) in `/etc/pve/priv/notifications.cfg`; the format is the `proxmox-notify` crate's.
A fresh PVE has a built-in target `mail-to-root` and a built-in matcher
`default-matcher`. `notifications:` left out of a stack means "not managed"; when it is
there, the targets and matchers it names are managed, others are reported as unmanaged,
and the built-ins are left alone unless the stack names them (`BUILTIN_TARGETS`,
`BUILTIN_MATCHERS`): PVE restores a deleted built-in from its default configuration, so
deleting one can never converge.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from provision.spec.base import CONFIG_ID, Int, SpecModel, Text
from provision.spec.secrets import SecretRef

BUILTIN_TARGETS = frozenset({"mail-to-root"})
BUILTIN_MATCHERS = frozenset({"default-matcher"})

Severity = Literal["info", "notice", "warning", "error", "unknown"]
MATCH_FIELD = r"^(exact|regex):[A-Za-z0-9_-]+=\S.*$"
USERID = r"^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+$"


class _Target(SpecModel):
    name: Text = Field(pattern=CONFIG_ID, description="Target name (referenced by matchers).")
    comment: Text | None = Field(default=None, description="Free text.")
    disable: bool = Field(default=False, description="Disable this target.")


class _Mail(_Target):
    mailto: list[Text] = Field(default_factory=list, description="Email recipients.")
    mailto_user: list[Annotated[Text, Field(pattern=USERID)]] = Field(
        default_factory=list, description="PVE users (e.g. root@pam) whose configured email address receives mail.")
    author: Text | None = Field(default=None, description="Author (display name) of the mail; PVE's default "
                                "is 'Proxmox VE'.")

    @field_validator("mailto", "mailto_user")
    @classmethod
    def _sorted(cls, value: list[str]) -> list[str]:
        return sorted(set(value))  # a set in PVE's eyes; sorted so specs compare equal

    @model_validator(mode="after")
    def _recipient(self) -> _Mail:
        if not self.mailto and not self.mailto_user:
            raise ValueError("a mail target needs at least one recipient in mailto or mailto_user")
        return self


class SendmailTarget(_Mail):
    """Mail through the node's local MTA (`sendmail`)."""

    type: Literal["sendmail"] = Field(description="Target type.")
    from_address: Text | None = Field(default=None, description="From address; PVE uses datacenter.cfg email_from "
                                      "(else root) when unset.")


class SmtpTarget(_Mail):
    """Mail through an SMTP relay, optionally authenticated."""

    type: Literal["smtp"] = Field(description="Target type.")
    server: Text = Field(description="SMTP server address.")
    port: Int | None = Field(default=None, ge=1, le=65535, description="Port; PVE's default is 465 (tls), 587 "
                             "(starttls) or 25 (insecure).")
    mode: Literal["tls", "starttls", "insecure"] = Field(default="tls", description="Connection encryption.")
    username: Text | None = Field(default=None, description="User for SMTP authentication.")
    password: SecretRef | None = Field(default=None, description="SMTP password (a reference; PVE never returns "
                                       "it, so it is not compared).")
    from_address: Text = Field(description="From address of the mail.")


class GotifyTarget(_Target):
    """Push notifications to a Gotify server."""

    type: Literal["gotify"] = Field(description="Target type.")
    server: Text = Field(description="Gotify server URL.")
    token: SecretRef = Field(description="Gotify application token (a reference; never compared).")


HEADER_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
SECRET_NAME = r"^[a-z][a-z0-9_-]{0,63}$"
WebhookBody = Annotated[str, StringConstraints(min_length=1, max_length=3000)]
"""Up to 3000 characters: its base64 goes to `pvesh` as one argument, which pve-provision
keeps under 4096 characters."""


class WebhookTarget(_Target):
    """An HTTP request to any service (PVE >= 8.3). PVE keeps the header values and the body
    base64-encoded and the secrets in the private file; the stack writes them as plain text
    (secrets as references) and pve-provision encodes them (proxmox-rs
    `proxmox-notify/src/endpoints/webhook.rs`)."""

    type: Literal["webhook"] = Field(description="Target type.")
    url: Text = Field(description="URL of the request; PVE expands templates in it, e.g. "
                      "{{ secrets.token }}.")
    method: Literal["post", "put", "get"] = Field(default="post", description="HTTP method.")
    headers: dict[Annotated[str, StringConstraints(pattern=HEADER_NAME)], Text] = Field(
        default_factory=dict, description="HTTP headers, name: value (templates allowed; put credentials in "
        "secrets and write {{ secrets.<name> }} here).")
    body: WebhookBody | None = Field(default=None, description="Body of the request, at most 3000 characters "
                                     "(templates allowed, e.g. {{ title }}, {{ message }}, {{ severity }}).")
    secrets: dict[Annotated[str, StringConstraints(pattern=SECRET_NAME)], SecretRef] = Field(
        default_factory=dict, description="Secrets the URL, headers and body use as {{ secrets.<name> }}: name: "
        "reference. PVE returns only their names, so only the names are compared.")


Target = Annotated[SendmailTarget | SmtpTarget | GotifyTarget | WebhookTarget, Field(discriminator="type")]


class Matcher(SpecModel):
    """Routes notifications that match to targets."""

    name: Text = Field(pattern=CONFIG_ID, description="Matcher name.")
    match_field: list[Annotated[Text, Field(pattern=MATCH_FIELD)]] = Field(
        default_factory=list, description="Metadata fields to match, `exact:<field>=<value>` or "
        "`regex:<field>=<regex>`, e.g. exact:type=fencing (types: fencing, replication, vzdump, package-updates, "
        "system-mail).")
    match_severity: list[Severity] = Field(default_factory=list, description="Severities to match.")
    match_calendar: list[Text] = Field(default_factory=list, description="Calendar events the notification "
                                       "time must match, e.g. mon..fri 8-17.")
    mode: Literal["all", "any"] = Field(default="all", description="Whether all or any of the match rules "
                                        "must match.")
    invert_match: bool = Field(default=False, description="Invert the result of the whole matcher.")
    target: list[Annotated[Text, Field(pattern=CONFIG_ID)]] = Field(default_factory=list,
                                                                    description="Targets to notify.")
    comment: Text | None = Field(default=None, description="Free text.")
    disable: bool = Field(default=False, description="Disable this matcher.")

    @field_validator("match_field", "match_severity", "match_calendar", "target")
    @classmethod
    def _sorted(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    def routes_type(self, kind: str) -> bool:
        """Whether a notification of type `kind` (fencing, vzdump...) can reach a target
        through this matcher, judged from its `type` field rules (severity and calendar
        rules narrow it further but never exclude a type wholesale)."""
        if self.disable or not self.target:
            return False
        rules = [r for r in self.match_field if r.split(":", 1)[1].split("=", 1)[0] == "type"]
        hit = any(_rule_matches(r, kind) for r in rules)
        if self.invert_match:
            return not hit
        others = len(self.match_field) - len(rules) + len(self.match_severity) + len(self.match_calendar)
        if not rules or (self.mode == "any" and others):
            return True  # no type rule, or another rule may match on its own
        return hit


def _rule_matches(rule: str, value: str) -> bool:
    """`exact:type=a,b` (PVE accepts a comma-separated list) or `regex:type=...`."""
    how, _, rest = rule.partition(":")
    expected = rest.split("=", 1)[1]
    if how == "exact":
        return value in {v.strip() for v in expected.split(",")}
    try:
        return re.search(expected, value) is not None
    except re.error:
        return False


class Notifications(SpecModel):
    """Notification targets and matchers (`/etc/pve/notifications.cfg`)."""

    targets: list[Target] = Field(default_factory=list, description="Notification targets.")
    matchers: list[Matcher] = Field(default_factory=list, description="Notification matchers.")

    @model_validator(mode="after")
    def _unique(self) -> Notifications:
        names = [t.name for t in self.targets] + [m.name for m in self.matchers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"names must be unique across targets and matchers (PVE keeps them in one file): "
                             f"{', '.join(dup)}")
        return self


__all__ = ["BUILTIN_MATCHERS", "BUILTIN_TARGETS", "GotifyTarget", "Matcher", "Notifications", "SendmailTarget",
           "SmtpTarget", "Target", "WebhookTarget"]
