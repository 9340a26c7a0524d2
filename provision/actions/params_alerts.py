"""Parameters of the notification and backup-job kinds.

Their PVE options go to `pvesh`, where an array property (a matcher's `target`, a
target's `mailto`) is one `--name value` pair per item (pve-common `JSONSchema.pm`
get_options: Getopt `=s@`), so options are a list of (name, value) pairs, not a mapping.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from provision.actions.params import Params
from provision.actions.values import Arg, ConfigId, OptionName, ParamModel, SecretParam

TargetType = Literal["sendmail", "smtp", "gotify", "webhook"]


class Opt(ParamModel):
    """One `--name value` of a pvesh call."""

    name: OptionName
    value: Arg


class NotifyTargetAdd(Params):
    """`secrets` (SMTP password, Gotify token) are references; pvesh would take them
    only in argv, so apply writes them into /etc/pve/priv/notifications.cfg on the node."""

    name: ConfigId
    type: TargetType
    options: list[Opt] = Field(default_factory=list)
    secrets: dict[OptionName, SecretParam] = Field(default_factory=dict)


class NotifyTargetSet(Params):
    name: ConfigId
    type: TargetType
    options: list[Opt] = Field(default_factory=list)
    secrets: dict[OptionName, SecretParam] = Field(default_factory=dict)
    delete: list[OptionName] = Field(default_factory=list)
    """PVE options going back to unset (`--delete`)."""


class NotifyTargetRemove(Params):
    name: ConfigId
    type: TargetType


class NotifyMatcherAdd(Params):
    name: ConfigId
    options: list[Opt] = Field(default_factory=list)


class NotifyMatcherSet(Params):
    name: ConfigId
    options: list[Opt] = Field(default_factory=list)
    delete: list[OptionName] = Field(default_factory=list)
    """PVE options going back to unset (`--delete`)."""


class NotifyMatcherRemove(Params):
    name: ConfigId


class BackupJobAdd(Params):
    id: ConfigId
    options: list[Opt] = Field(default_factory=list)


class BackupJobSet(Params):
    id: ConfigId
    options: list[Opt] = Field(default_factory=list)
    delete: list[OptionName] = Field(default_factory=list)
    """PVE options going back to unset (`--delete`)."""


class BackupJobRemove(Params):
    id: ConfigId
