"""The datacenter.cfg schema as ``PUT /cluster/options`` checks it.

Values are checked the way pve-common ``src/PVE/JSONSchema.pm`` walks a schema (check_prop:
type, then format, then minimum/maximum, then enum) with the options' formats from pve-cluster
``src/PVE/DataCenterConfig.pm``; the messages are pve-common's. A property string is parsed
by ``parse_property_string`` first: an unknown key dies there ("invalid key in
comma-separated list property: K"); a bad value is a "format error" listing each failing
``option.key``. Both land under the option's name as "invalid format - ...".

The lab's PVE 9 carries pve-cluster 9.0.7 (``provision.lab.hardware``), which predates the
``dynamic`` CRS mode and the ``ha-auto-rebalance*`` keys (9.1.2): like that release, both
PVE versions refuse them. Options the product does not manage are stored unchecked.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from provision.lab.formats import datacenter
from provision.lab.registry import param_error

Check = Callable[[str], str | None]
"""A value -> pve-common's complaint about it, or None when it passes."""

_NUMBER = re.compile(r"^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$")  # JSONSchema.pm is_number
_INTEGER = re.compile(r"^[+-]?\d+$")  # is_integer
# pve-common src/PVE/ParseUtils.pm (9) / src/PVE/Tools.pm (8) EMAIL_RE
_EMAIL = re.compile(r"^[\w+\-~]+(\.[\w+\-~]+)*@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*$")
_TRUE, _FALSE = ("1", "on", "yes", "true"), ("0", "off", "no", "false")


def _enum(*values: str) -> Check:
    def check(value: str) -> str | None:
        if value in values:
            return None
        return f"value '{value}' does not have a value in the enumeration '{', '.join(values)}'"
    return check


def _number(kind: str, pattern: re.Pattern[str], minimum: float | None = None,
            maximum: float | None = None) -> Check:
    def check(value: str) -> str | None:
        if not pattern.match(value):
            return f"type check ('{kind}') failed - got '{value}'"
        if maximum is not None and float(value) > maximum:
            return f"value must have a maximum value of {maximum:g}"
        if minimum is not None and float(value) < minimum:
            return f"value must have a minimum value of {minimum:g}"
        return None
    return check


def _boolean(value: str) -> str | None:
    # parse_property_string maps on/yes/true... to 1/0 before the type check (JSONSchema.pm:1116)
    if value.lower() in _TRUE + _FALSE:
        return None
    return f"type check ('boolean') failed - got '{value}'"


def _cidr(value: str) -> str | None:
    """pve_verify_cidr: an IPv4 network with a prefix of 8..32, or an IPv6 one."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        net = None
    if "/" in value and net is not None and (net.version == 6 or 8 <= net.prefixlen <= 32):
        return None
    return "invalid format - value does not look like a valid CIDR network"


def _email_opt(value: str) -> str | None:
    # format 'email-opt': an empty value passes (JSONSchema.pm check_format, 'opt')
    if not value or _EMAIL.match(value):
        return None
    return "invalid format - value does not look like a valid email address"


def _text(value: str) -> str | None:
    return None


_BWLIMIT = _number("number", _NUMBER, minimum=0)

#: property-string options: key -> sub-key -> check (DataCenterConfig.pm 8: L13-32, L34-51,
#: L103-143; 9: L13-27 (lab: without dynamic), L28-35, L83-101, L172-220; pve-common
#: JSONSchema.pm bwlimit format 9: L815-842, 8: L783-810)
FORMATS: dict[str, dict[str, Check]] = {
    "crs": {"ha": _enum("basic", "static"), "ha-rebalance-on-start": _boolean},
    "ha": {"shutdown_policy": _enum("freeze", "failover", "conditional", "migrate")},
    "migration": {"type": _enum("secure", "insecure"), "network": _cidr},
    "bwlimit": {k: _BWLIMIT for k in ("default", "restore", "migration", "clone", "move")},
    # next-id's bounds are written `min`/`max`, which JSONSchema.pm does not check; only the
    # type is (and write_datacenter_config's lower <= upper, see options.py)
    "next-id": {"lower": _number("integer", _INTEGER), "upper": _number("integer", _INTEGER)},
}

#: boolean keys of property strings (DataCenterConfig.pm 9: L28-41 crs, L262-268 webauthn,
#: L312-318 tag-style; 8: L24-30, L193, L243): PVE's reader hands them through
#: parse_boolean (pve-common JSONSchema.pm 9: L1061-1066, L1114-1116; 8: L1029, L1084), whose
#: Perl 1/0 the API's JSON encoder writes as the numbers 1/0, not as strings
BOOLEAN_KEYS: dict[str, frozenset[str]] = {
    "crs": frozenset({"ha-rebalance-on-start", "ha-auto-rebalance"}),
    "webauthn": frozenset({"allow-subdomains"}),
    "tag-style": frozenset({"case-sensitive"}),
}


def as_read(key: str, value: object) -> object:
    """An option as `GET /cluster/options` answers it: a property string's booleans as 1/0
    numbers; every other sub-key stays the text the file holds (integers included)."""
    booleans = BOOLEAN_KEYS.get(key)
    if not booleans or not isinstance(value, dict):
        return value
    return {sub: (int(str(v).lower() in _TRUE) if sub in booleans and str(v).lower() in _TRUE + _FALSE else v)
            for sub, v in value.items()}


#: plain options the product manages: key -> check (DataCenterConfig.pm 9: L439-452, 8: L364-377)
PLAIN: dict[str, Check] = {
    "email_from": _email_opt,
    "max_workers": _number("integer", _INTEGER, minimum=1),
}

#: other options of the schema, stored as given
_UNCHECKED = frozenset({"console", "description", "fencing", "http_proxy", "keyboard", "language", "mac_prefix",
                        "registered-tags", "consent-text", "location", "migration_unsecure"})


def _property_string(key: str, value: str) -> dict[str, str]:
    formats = FORMATS.get(key)
    try:
        parsed = datacenter.parse_property_string(value, datacenter.DEFAULT_KEYS.get(key))
    except datacenter.DatacenterError as exc:
        raise param_error(key, f"invalid format - {exc}") from None
    if formats is None:
        return parsed
    unknown = [sub for sub in parsed if sub not in formats]
    if unknown:
        raise param_error(key, f"invalid format - invalid key in comma-separated list property: {unknown[0]}")
    failed = [f"{key}.{sub}: {msg}" for sub, sub_value in parsed.items()
              if (msg := formats[sub](sub_value)) is not None]
    if failed:
        raise param_error(key, "invalid format - format error\n" + "\n".join(failed))
    # booleans are stored as PVE's reader returns them (parse_boolean: 1/0)
    return {sub: ("1" if v.lower() in _TRUE else "0") if formats[sub] is _boolean else v for sub, v in parsed.items()}


def check_option(key: str, value: str) -> dict[str, str] | str:
    """The value to store for option `key`, or the 400 PVE answers for it."""
    if key in PLAIN:
        message = PLAIN[key](value)
        if message is not None:
            raise param_error(key, message)
        return value
    if key in _UNCHECKED:
        return value
    if key not in datacenter.PROPERTY_STRING_KEYS:
        raise param_error(key, "property is not defined in schema and the schema does not allow additional "
                          "properties")
    return _property_string(key, value)
