"""Typed action ids: an object address plus a verb, e.g. `ceph.pool["vm-pool"]#create`.

Ids used to be f-strings; a typo in one silently dropped a dependency. An `ActionId`
can only be built from an `Address` and a `Verb`, prints as the plan files spell it,
and parses back with one clear error.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import total_ordering

from provision.spec.addresses import Address


class Verb(StrEnum):
    """What an action does to its address (the part after `#`)."""

    APPLY = "apply"
    INIT = "init"
    CREATE = "create"
    DESTROY = "destroy"
    ADD = "add"
    REMOVE = "remove"
    SET = "set"
    JOIN = "join"
    SETUP = "setup"
    INSTALL_CEPH = "install-ceph"
    INSTALL_QDEVICE = "install-qdevice"
    INSTALL_QNETD = "install-qnetd"
    TRUST_SSH = "trust-ssh"
    REMOVE_FOR_MEMBERSHIP = "remove-for-membership"
    ENSURE_WATCHDOG = "ensure-watchdog"
    FAIL = "fail"
    SHUTDOWN = "shutdown"


def parse_address(text: str) -> Address:
    """An address as plans print it; root singletons such as `cluster` parse too."""
    return Address.parse(text)


@total_ordering
@dataclass(frozen=True)
class ActionId:
    address: Address
    verb: Verb

    @classmethod
    def of(cls, address: Address | str, verb: Verb) -> ActionId:
        return cls(parse_address(address) if isinstance(address, str) else address, verb)

    @classmethod
    def parse(cls, text: str) -> ActionId:
        """Parse `ADDRESS#VERB`; ValueError names what is wrong."""
        address, sep, verb = str(text).rpartition("#")
        if not sep:
            raise ValueError(f"not an action id: {text!r} (expected ADDRESS#VERB, e.g. ceph.pool[\"vm\"]#create)")
        try:
            return cls(parse_address(address), Verb(verb))
        except ValueError as exc:
            if verb not in {v.value for v in Verb}:
                raise ValueError(f"not an action id: {text!r} (unknown verb {verb!r}; one of "
                                 f"{', '.join(v.value for v in Verb)})") from None
            raise ValueError(f"not an action id: {text!r} ({exc})") from None

    def __str__(self) -> str:
        return f"{self.address}#{self.verb.value}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, ActionId):
            return NotImplemented
        return (self.address, self.verb.value) < (other.address, other.verb.value)
